"""Every mistake gives an exception whose message names the problem and the fix."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from cam_utils.cam import class_activation_map
from cam_utils.gradcam import grad_cam
from cam_utils.hooks import forward_with_features
from tests.helpers import ModelSnapshot, TinyGapNet


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return TinyGapNet(num_classes=5).eval()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(2, 3, 16, 16)


# --- the input x -------------------------------------------------------------------------


def test_single_image_without_batch_dimension_suggests_unsqueeze(model, x):
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        grad_cam(model, x[0], "features")


def test_uint8_input_suggests_preprocess(model, x):
    with pytest.raises(TypeError, match="preprocess"):
        grad_cam(model, (x * 50).to(torch.uint8), "features")


def test_non_tensor_and_wrong_rank_input(model, x):
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        grad_cam(model, np.zeros((1, 3, 16, 16), dtype=np.float32), "features")
    with pytest.raises(ValueError, match="N×3×H×W"):
        grad_cam(model, x[None], "features")
    with pytest.raises(ValueError, match="empty"):
        grad_cam(model, x[:0], "features")


def test_channels_last_input_names_permute(model, x):
    channels_last = x.permute(0, 2, 3, 1)[:, :, :, :3].contiguous()  # (2, 16, 16, 3)
    with pytest.raises(ValueError, match=r"channels.*permute\(0, 3, 1, 2\)"):
        grad_cam(model, channels_last, "features")
    with pytest.raises(ValueError, match="reads 3"):
        class_activation_map(model, x[:, :1], model.features, model.fc)


def test_dtype_mismatch_suggests_conversion(model, x):
    with pytest.raises(TypeError, match=r"x = x.to\(torch.float32\)"):
        grad_cam(model, x.double(), "features")


def test_model_and_input_on_different_devices():
    model = TinyGapNet().to("meta")
    with pytest.raises(ValueError, match=r"same device.*x\.to\('meta'\)"):
        grad_cam(model, torch.randn(1, 3, 16, 16), "features")
    with pytest.raises(ValueError, match="same device"):
        class_activation_map(model, torch.randn(1, 3, 16, 16), "act", "fc")


# --- the layer ------------------------------------------------------------------------------


def test_unknown_layer_name_suggests_close_names(model, x):
    with pytest.raises(ValueError, match=r"no layer named 'featurs'.*'features'"):
        grad_cam(model, x, "featurs")


def test_module_from_another_model(model, x):
    with pytest.raises(ValueError, match="not a submodule"):
        grad_cam(model, x, nn.Conv2d(3, 3, 1))
    with pytest.raises(TypeError, match="dotted name"):
        grad_cam(model, x, 3)


def test_layer_that_is_not_a_feature_map(model, x):
    with pytest.raises(ValueError, match=r"N×C×H×W.*before global pooling"):
        grad_cam(model, x, "fc")


class WithExtras(nn.Module):
    """A GAP net with a module it never calls, a side branch, a tuple block and a flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pair = PairBlock()
        self.side = nn.Conv2d(4, 4, 1)
        self.unused = nn.Conv2d(4, 4, 1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, _ = self.pair(self.conv(x))
        with torch.no_grad():
            self.side(features)  # computed, never used for the scores
        return self.fc(self.flatten(features.mean(dim=(2, 3), keepdim=True)))


class PairBlock(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.relu(x), x


def test_layer_never_called(x):
    with pytest.raises(RuntimeError, match="'unused' was never called"):
        grad_cam(WithExtras(), x, "unused")


def test_layer_returning_a_tuple(x):
    model = WithExtras()
    snapshot = ModelSnapshot.take(model)
    with pytest.raises(TypeError, match="'pair' returns a tuple of 2 items"):
        grad_cam(model, x, "pair")
    snapshot.assert_unchanged(model)


def test_flatten_output_is_rejected(x):
    with pytest.raises(ValueError, match="'flatten' outputs shape \\(2, 4\\)"):
        grad_cam(WithExtras(), x, "flatten")


def test_layer_the_scores_do_not_depend_on(x):
    with pytest.raises(RuntimeError, match="do not depend on layer 'side'"):
        forward_with_features(WithExtras(), x, "side")


def test_model_returning_a_tuple(x):
    class TwoHeads(TinyGapNet):
        def forward(self, x):
            scores = super().forward(x)
            return scores, scores

    with pytest.raises(TypeError, match="only the logits"):
        grad_cam(TwoHeads().eval(), x, "features")


# --- class_idx ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "class_idx, error, message",
    [
        (5, ValueError, "out of range.*0 to 4"),
        (-1, ValueError, "negative"),
        ([1, 2, 3], ValueError, "3 entries but the batch has 2"),
        ([1], ValueError, "1 entries but the batch has 2"),
        (torch.tensor([1, 2, 3]), ValueError, "batch has 2"),
        (torch.tensor([[1, 2]]), ValueError, "1-D tensor"),
        (torch.tensor([0, 7]), ValueError, "7 is out of range"),
        (True, TypeError, "integer"),
        (1.0, TypeError, "integer"),
        ([1, 2.0], TypeError, "integer"),
        ([True, False], TypeError, "integer"),
        (torch.tensor([1.0, 2.0]), TypeError, "integer"),
        (torch.tensor([True, False]), TypeError, "integer"),
        ("cat", TypeError, "sequence of N ints"),
    ],
)
def test_bad_class_idx(model, x, class_idx, error, message):
    with pytest.raises(error, match=message):
        grad_cam(model, x, "features", class_idx=class_idx)


def test_numpy_integer_class_indices_are_accepted(model, x):
    expected = grad_cam(model, x, "features", class_idx=[1, 3])
    torch.testing.assert_close(grad_cam(model, x, "features", class_idx=np.array([1, 3])), expected)
    torch.testing.assert_close(grad_cam(model, x, "features", class_idx=(1, 3)), expected)


# --- CAM specifics ------------------------------------------------------------------------


def test_cam_classifier_with_wrong_input_size(x):
    model = TinyGapNet().eval()
    model.fc = nn.Linear(8, 5)
    model.extra = nn.Linear(7, 5)
    with pytest.raises(ValueError, match=r"takes 7 inputs.*8 channels.*grad_cam"):
        class_activation_map(model, x, "act", "extra")


# --- issue 12: NaN/inf inputs, compiled models, empty names, "ALL", DataParallel hints ---------------


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_plus_plus", "hires_cam", "cam", "score_cam"])
def test_non_finite_input_gets_one_message_naming_x(model, x, method, bad_value):
    from cam_utils import grad_cam_plus_plus, hires_cam, score_cam

    compute = {
        "grad_cam": lambda inputs: grad_cam(model, inputs, "features"),
        "grad_cam_plus_plus": lambda inputs: grad_cam_plus_plus(model, inputs, "features"),
        "hires_cam": lambda inputs: hires_cam(model, inputs, "features"),
        "cam": lambda inputs: class_activation_map(model, inputs, "act", "fc"),
        "score_cam": lambda inputs: score_cam(model, inputs, "features"),
    }[method]
    spoiled = x.clone()
    spoiled[1, 2, 3, 4] = bad_value
    snapshot = ModelSnapshot.take(model)
    with pytest.raises(
        ValueError, match=r"^x contains 1 NaN or infinite value\(s\) out of 1,536, so every map would be NaN"
    ):
        compute(spoiled)
    snapshot.assert_unchanged(model)


def test_torch_compile_wrapper_is_explained_through_the_original_module(model, x):
    compiled = torch.compile(model, backend="eager")
    with torch.no_grad():
        compiled(x)  # compiled now, without hooks: hooks added later are not run by the compiled code
    expected = grad_cam(model, x, "features", [1, 2])
    torch.testing.assert_close(grad_cam(compiled, x, "features", [1, 2]), expected, rtol=0, atol=0)
    torch.testing.assert_close(grad_cam(compiled, x, "_orig_mod.features", [1, 2]), expected, rtol=0, atol=0)
    torch.testing.assert_close(grad_cam(compiled, x, compiled.features, [1, 2]), expected, rtol=0, atol=0)
    torch.testing.assert_close(
        class_activation_map(compiled, x, "act", "_orig_mod.fc"), class_activation_map(model, x, "act", "fc")
    )
    from cam_utils import score_cam

    torch.testing.assert_close(score_cam(compiled, x, "features"), score_cam(model, x, "features"))


def test_model_compiled_in_place_gets_the_true_diagnosis(x):
    torch.manual_seed(0)
    model = TinyGapNet().eval()
    model.compile(backend="eager")
    with torch.no_grad():
        model(x)  # compiled now, without hooks: hooks added later are not run
    snapshot = ModelSnapshot.take(model)
    with pytest.raises(RuntimeError, match=r"ran inside code compiled by torch\.compile, which does not run hooks"):
        grad_cam(model, x, "features")
    snapshot.assert_unchanged(model)


@pytest.mark.parametrize("empty", ["", "  "])
def test_empty_layer_name_is_not_the_whole_model(model, x, empty):
    with pytest.raises(ValueError, match="The layer name is empty"):
        grad_cam(model, x, empty)
    with pytest.raises(ValueError, match="The layer name is empty"):
        class_activation_map(model, x, "act", empty)


def test_cam_class_idx_text_other_than_all_names_all(model, x):
    with pytest.raises(ValueError, match=r"class_idx='ALL' is not a class: the only text .* is \"all\" \(lower case\)"):
        class_activation_map(model, x, "act", "fc", class_idx="ALL")
    assert class_activation_map(model, x, "act", "fc", class_idx="all").shape == (2, 5, 4, 4)


def test_misspelled_names_under_a_wrapper_get_the_prefixed_name(model, x):
    wrapped = nn.DataParallel(model)  # names gain "module."
    with pytest.raises(ValueError, match=r"no layer named 'fc'\. Did you mean 'module\.fc'"):
        class_activation_map(wrapped, x, "module.act", "fc")
    with pytest.raises(ValueError, match=r"no layer named 'features'\. Did you mean 'module\.features'"):
        grad_cam(wrapped, x, "features")


def test_an_input_that_requires_grad_gives_no_warning():
    """Issue 19, item 15: the input check's float() warned on x.requires_grad (an error under -W error)."""
    import warnings

    from cam_utils._checks import check_finite

    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_finite(x)


# --- issue 19, item 14: a layer whose output does not reach the class scores is diagnosed by its cause ---


class _CutNet(torch.nn.Module):
    """conv1 -> ReLU -> conv2 -> GAP -> linear, with the cut a test asks for."""

    def __init__(self, cut: str) -> None:
        super().__init__()
        self.cut = cut
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 3)

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.relu(self.conv1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cut == "reentrant-checkpoint":
            from torch.utils.checkpoint import checkpoint

            feature_maps = checkpoint(self.segment, x, use_reentrant=True)
        else:
            feature_maps = self.segment(x)
        if self.cut == "detach":
            feature_maps = feature_maps.detach()
        return self.head(feature_maps.mean(dim=(2, 3)))


@pytest.mark.parametrize(
    "cut, fragment",
    [
        ("detach", "cuts it (a .detach()"),
        ("inference-mode", "ran inside torch.inference_mode()"),
        ("reentrant-checkpoint", "activation checkpointing with use_reentrant=True"),
    ],
)
def test_a_cut_gradient_path_is_named_by_its_cause(cut, fragment):
    import warnings

    from cam_utils import grad_cam

    torch.manual_seed(0)
    model = _CutNet(cut).eval()
    if cut == "inference-mode":
        model.forward = torch.inference_mode()(model.forward)
    x = torch.randn(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own warning about checkpointing inputs without grad
        with pytest.raises(RuntimeError, match=re.escape(fragment)) as error:
            grad_cam(model, x, "conv2")
    assert "allow_unused" not in str(error.value) and "'conv2'" in str(error.value)


# --- structured errors (cam_utils.errors): problem, offending value, suggestion --------------------


def test_structured_errors_keep_their_built_in_bases():
    from cam_utils.errors import CamUtilsError, CamUtilsWarning, CancelledMapWarning, LayerError, NotGapNetworkError
    from cam_utils.images import ImageLoadError, ImageTooLargeError

    assert issubclass(NotGapNetworkError, ValueError) and issubclass(NotGapNetworkError, CamUtilsError)
    assert issubclass(LayerError, RuntimeError) and issubclass(LayerError, CamUtilsError)
    assert issubclass(ImageTooLargeError, ImageLoadError) and issubclass(ImageLoadError, ValueError)
    assert issubclass(ImageLoadError, CamUtilsError)
    assert issubclass(CancelledMapWarning, RuntimeWarning) and issubclass(CancelledMapWarning, CamUtilsWarning)


def test_a_non_gap_classifier_error_carries_the_classifier_and_the_suggestion(model, x):
    from cam_utils.errors import NotGapNetworkError

    model.extra = nn.Linear(7, 5)  # not the classifier after GAP
    with pytest.raises(ValueError, match="global average pooling") as info:
        class_activation_map(model, x, "act", "extra")
    error = info.value
    assert isinstance(error, NotGapNetworkError) and error.value == "extra"
    assert error.suggestion == "Use grad_cam(model, x, target_layer) for other networks."
    assert str(error) == f"{error.problem} {error.suggestion}" and "takes 7 inputs" in error.problem


def test_a_too_large_image_carries_the_limit():
    import io

    from PIL import Image

    from cam_utils.images import ImageTooLargeError, load_image

    buffer = io.BytesIO()
    Image.new("RGB", (20, 20)).save(buffer, format="PNG")
    with pytest.raises(ImageTooLargeError) as info:
        load_image(buffer.getvalue(), max_pixels=100)
    assert info.value.value == 100 and "20 x 20" in info.value.problem
    assert "max_pixels" in info.value.suggestion and str(info.value).endswith(info.value.suggestion)


def test_a_layer_that_runs_twice_is_a_layer_error_naming_it(x):
    from cam_utils.errors import LayerError

    torch.manual_seed(0)
    shared = nn.Conv2d(3, 3, 1)
    model = nn.Sequential(shared, shared, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2)).eval()
    with pytest.raises(RuntimeError, match="ran twice") as info:
        grad_cam(model, x, "0")
    assert isinstance(info.value, LayerError) and info.value.value == "0"
    assert info.value.suggestion == "Choose a layer that runs once."


def test_structured_errors_and_warnings_survive_pickling():
    """A DataLoader worker sends its exception to the main process by pickling it."""
    import pickle

    from cam_utils.errors import CancelledMapWarning, LayerError
    from cam_utils.images import ImageTooLargeError

    for original in (
        LayerError("Layer 'x' ran twice.", value="x", suggestion="Choose another."),
        ImageTooLargeError("photo.png", 100, "; its size is 20 x 20"),
        CancelledMapWarning("HiResCAM cancels.", value=2, suggestion="Use grad_cam."),
    ):
        copy = pickle.loads(pickle.dumps(original))
        assert type(copy) is type(original) and str(copy) == str(original)
        assert (copy.problem, copy.value, copy.suggestion) == (original.problem, original.value, original.suggestion)

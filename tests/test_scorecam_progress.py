"""Score-CAM reports its progress (channels done of the channels that get a forward pass), can be stopped by
its progress function, and leaves the model as it was also when stopped or interrupted (issue 22)."""

from __future__ import annotations

import threading

import pytest
import torch

from cam_utils.errors import CamUtilsError, ComputationCancelledError
from cam_utils.gradcam import grad_cam
from cam_utils.scorecam import score_cam
from tests.helpers import ModelSnapshot, TinyGapNet, randomize_batchnorm


def tiny_model() -> TinyGapNet:
    torch.manual_seed(0)
    model = TinyGapNet(num_classes=5, channels=8)
    randomize_batchnorm(model)
    return model.eval()


def informative_channels(model: TinyGapNet, x: torch.Tensor) -> int:
    with torch.no_grad():
        feature_maps = model.features(x)  # (N, C, h, w)
    return int((feature_maps.amax(dim=(2, 3)) > feature_maps.amin(dim=(2, 3))).sum())


def test_the_progress_function_counts_the_channels_that_get_a_forward_pass():
    model, x = tiny_model(), torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    calls: list[tuple[int, int]] = []
    maps = score_cam(model, x, "features", batch_size=3, progress=lambda done, total: calls.append((done, total)))
    total = informative_channels(model, x)
    assert total == 16  # 2 images x 8 channels, none constant: batches of 3, 3, 2 per image
    assert calls == [(0, 16), (3, 16), (6, 16), (8, 16), (11, 16), (14, 16), (16, 16)]
    assert torch.equal(maps, score_cam(model, x, "features", batch_size=3))  # reporting changes nothing


@pytest.mark.parametrize("stop_at", [0, 3])
def test_returning_false_stops_it_and_leaves_the_model_untouched(stop_at):
    model, x = tiny_model(), torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    model.train()  # a user in the middle of training
    model.fc.weight.requires_grad_(False)
    batches: list[int] = []
    model.register_forward_pre_hook(lambda module, inputs: batches.append(inputs[0].shape[0]))  # the user's hook
    snapshot = ModelSnapshot.take(model)
    with pytest.raises(ComputationCancelledError) as raised:
        score_cam(model, x, "features", batch_size=3, progress=lambda done, total: done < stop_at)
    error = raised.value
    assert isinstance(error, RuntimeError) and isinstance(error, CamUtilsError)
    assert error.value == (stop_at, 8) and f"stopped after {stop_at} of 8 channels" in str(error)
    assert batches == [1] + [3] * (stop_at // 3)  # the forward pass that records A, then the batches run
    snapshot.assert_unchanged(model)


def test_ctrl_c_midway_leaves_the_model_untouched_and_erases_the_bar(capsys):
    model, x = tiny_model(), torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    batches: list[int] = []

    def interrupt_the_second_batch(module, inputs):
        batches.append(inputs[0].shape[0])
        if len(batches) == 3:  # the forward that records A, one batch, then Ctrl-C
            raise KeyboardInterrupt

    model.register_forward_pre_hook(interrupt_the_second_batch)
    snapshot = ModelSnapshot.take(model)
    with pytest.raises(KeyboardInterrupt):
        score_cam(model, x, "features", batch_size=3, progress=True)
    snapshot.assert_unchanged(model)
    shown = capsys.readouterr().err
    assert "0/8 channels" in shown  # the bar was drawn...
    assert shown.split("\r")[-1].strip() == "" and "\n" not in shown  # ...and erased: the terminal line is empty


def test_another_thread_explains_the_same_model_between_two_batches():
    """The model's lock is held one batch at a time: a Grad-CAM from another thread (the explorer's) does not
    wait for the whole Score-CAM run, and both maps are those of sequential calls."""
    model, x = tiny_model(), torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    expected = grad_cam(model, x, "features")
    results: list[torch.Tensor] = []
    other = threading.Thread(target=lambda: results.append(grad_cam(model, x, "features")))

    def start_the_other_thread(done: int, total: int) -> None:
        if done == 3:  # between the first batch and the second
            other.start()
            other.join(timeout=60)
            assert not other.is_alive(), "the other thread waited for the lock"

    maps = score_cam(model, x, "features", batch_size=3, progress=start_the_other_thread)
    assert len(results) == 1 and torch.equal(results[0], expected)
    assert torch.equal(maps, score_cam(model, x, "features", batch_size=3))


@pytest.mark.parametrize("progress", ["yes", 1.0, object()])
def test_progress_of_the_wrong_kind_is_refused(progress):
    model, x = tiny_model(), torch.randn(1, 3, 16, 16)
    with pytest.raises(TypeError, match=r"progress must be True, False, None \(automatic\) or a function"):
        score_cam(model, x, "features", progress=progress)

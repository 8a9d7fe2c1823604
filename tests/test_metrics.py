"""Tests of cam_utils.metrics: hand-computed localisation scores and faithfulness curves on a
toy model whose class score depends only on a known region of the image."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from cam_utils.metrics import (
    Curve,
    average_drop_increase,
    deletion_curve,
    energy_share,
    insertion_curve,
    mask_iou,
    pointing_game,
)
from cam_utils.metrics.faithfulness import rise_blur, rise_blur_kernel
from cam_utils.metrics.localisation import paper_tolerance
from tests.helpers import ModelSnapshot

SIZE = 16


def region_mask() -> torch.Tensor:
    """(16, 16) bool: the 4x6 block the toy model looks at."""
    mask = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    mask[3:7, 8:14] = True
    return mask


class RegionModel(nn.Module):
    """Two classes; logit_0 = 4 * mean of BN(x) over the region (all channels), logit_1 = 0.

    The BatchNorm makes train/eval behaviour matter (in train mode it would normalise with
    batch statistics and update its running stats), so the tests catch a model left in train
    mode or modified.
    """

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(3)
        self.register_buffer("region", region_mask().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.norm(x)  # (N, 3, H, W)
        region_mean = (z * self.region).sum(dim=(1, 2, 3)) / (3 * self.region.sum())  # (N,)
        return torch.stack([4 * region_mean, torch.zeros_like(region_mean)], dim=1)  # (N, 2)


def bright_region_images(n: int = 2, seed: int = 0) -> torch.Tensor:
    """(n, 3, 16, 16) normalised images: the region at 1 (white, with mean = std = 0.5), noise elsewhere."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, SIZE, SIZE, generator=generator) * 2 - 1
    x[:, :, region_mask()] = 1.0
    return x


# ---------------------------------------------------------------------------- localisation


def test_pointing_game_peak_inside_and_outside_the_mask():
    mask = region_mask()[None].expand(3, SIZE, SIZE)
    maps = torch.zeros(3, SIZE, SIZE)
    maps[0, 4, 10] = 1.0  # inside the region
    maps[1, 12, 2] = 1.0  # far outside
    maps[2, 8, 10] = 1.0  # one row below the region (last row 6): distance 2
    assert pointing_game(maps, mask, tolerance=0).tolist() == [True, False, False]
    assert pointing_game(maps, mask, tolerance=2).tolist() == [True, False, True]
    assert pointing_game(maps, mask, tolerance=1.9).tolist() == [True, False, False]


def test_pointing_game_default_is_the_papers_15_pixels_at_224_scaled():
    assert paper_tolerance(224, 224) == 15.0
    assert paper_tolerance(64, 64) == pytest.approx(15 * 64 / 224)  # 4.29 px
    assert paper_tolerance(64, 128) == paper_tolerance(64, 64)  # the shorter side
    mask = torch.zeros(2, 64, 64, dtype=torch.bool)
    mask[:, 30:34, 30:34] = True
    maps = torch.zeros(2, 64, 64)
    maps[0, 20, 32] = 1.0  # 10 px above the object: a miss for the paper too
    maps[1, 37, 32] = 1.0  # 4 px below the object: within 4.29 px, a hit
    assert pointing_game(maps, mask).tolist() == [False, True]
    assert pointing_game(maps, mask, tolerance=0).tolist() == [False, False]
    with pytest.raises(ValueError, match=">= 0"):
        pointing_game(maps, mask, tolerance=-1)


def test_pointing_game_tie_rule_and_constant_maps():
    mask = torch.zeros(2, 8, 8, dtype=torch.bool)
    mask[:, 0, 7] = True  # one pixel, top right
    maps = torch.zeros(2, 8, 8)
    maps[0, 5, 0] = maps[0, 0, 7] = 1.0  # two tied maxima: the first in row-major order, (0, 7), counts
    assert pointing_game(maps, mask, tolerance=0).tolist() == [True, False]  # map 1 is constant: a miss
    maps[0, 0, 7] = 0.0
    maps[0, 0, 0] = 1.0  # tied with (5, 0): the first maximum is now (0, 0), off the mask
    assert pointing_game(maps, mask, tolerance=0).tolist() == [False, False]
    maps[1] = 1.0  # a constant map has no maximum to point with: a miss even with the object in range
    assert pointing_game(maps, mask, tolerance=8).tolist() == [True, False]


def test_pointing_game_upsamples_a_coarse_map():
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, :4, 4:] = True  # top-right quadrant
    coarse = torch.tensor([[[0.0, 1.0], [0.2, 0.1]]])  # (1, 2, 2): peak in the top-right cell
    assert pointing_game(coarse, mask, tolerance=0).tolist() == [True]
    assert pointing_game(coarse.flip(-1), mask, tolerance=0).tolist() == [False]


def test_energy_share_hand_computed_values():
    mask = region_mask()[None]  # 24 of 256 pixels
    uniform = torch.ones(1, SIZE, SIZE)
    assert energy_share(uniform, mask).item() == pytest.approx(24 / 256)
    inside_only = mask.float()
    assert energy_share(inside_only, mask).item() == pytest.approx(1.0)
    # Negative values carry no energy: -5 outside, 2 inside, 1 on 8 pixels outside.
    mixed = torch.full((1, SIZE, SIZE), -5.0)
    mixed[mask] = 2.0
    mixed[0, 12, :8] = 1.0
    assert energy_share(mixed, mask).item() == pytest.approx(24 * 2 / (24 * 2 + 8 * 1))
    assert energy_share(torch.zeros(1, SIZE, SIZE), mask).item() == 0.0


def test_mask_iou_hand_computed_values():
    mask = region_mask()[None]
    assert mask_iou(mask.float(), mask).item() == pytest.approx(1.0)
    assert mask_iou((~mask).float(), mask).item() == pytest.approx(0.0)
    # Map covering rows 3..8 of the same columns: 36 pixels, 24 shared -> IoU 24/36.
    shifted = torch.zeros(1, SIZE, SIZE)
    shifted[0, 3:9, 8:14] = 1.0
    assert mask_iou(shifted, mask).item() == pytest.approx(24 / 36)
    # Threshold relative to the max: the 0.4 part drops out at 0.5 and stays at 0.3.
    graded = mask.float().clone()
    graded[0, 7:9, 8:14] = 0.4
    assert mask_iou(graded, mask, threshold=0.5).item() == pytest.approx(1.0)
    assert mask_iou(graded, mask, threshold=0.3).item() == pytest.approx(24 / 36)


def test_localisation_metrics_reject_mismatched_batches():
    with pytest.raises(ValueError, match="one mask per map"):
        pointing_game(torch.ones(2, 4, 4), torch.ones(3, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, h, w\)"):
        energy_share(torch.ones(4, 4), torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match="threshold"):
        mask_iou(torch.ones(1, 4, 4), torch.ones(1, 4, 4), threshold=0)


# ---------------------------------------------------------------------------- faithfulness


def test_saliency_on_the_region_wins_deletion_and_insertion():
    model = RegionModel().eval()
    x = bright_region_images()
    good = region_mask().float()[None].expand(2, SIZE, SIZE)  # points at what the model uses
    bad = 1 - good  # points everywhere else

    good_deletion = deletion_curve(model, x, good, class_idx=0, pixels_per_step=8)
    bad_deletion = deletion_curve(model, x, bad, class_idx=0, pixels_per_step=8)
    good_insertion = insertion_curve(model, x, good, class_idx=0, pixels_per_step=8)
    bad_insertion = insertion_curve(model, x, bad, class_idx=0, pixels_per_step=8)
    for i in range(2):
        assert good_deletion[i].auc < bad_deletion[i].auc - 0.2
        assert good_insertion[i].auc > bad_insertion[i].auc + 0.1
    # Deleting the 24 region pixels takes 3 steps of 8: after that the score is flat at 0.5.
    curve = good_deletion[0]
    assert curve.scores[0].item() == pytest.approx(torch.sigmoid(torch.tensor(4.0)).item(), rel=1e-3)
    torch.testing.assert_close(curve.scores[3:], torch.full_like(curve.scores[3:], 0.5))


def test_curve_length_and_auc_follow_pixels_per_step():
    model = RegionModel().eval()
    x = bright_region_images(n=1)
    saliency = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(1))
    for pixels_per_step, n_steps in [(8, 32), (10, 26), (256, 1)]:  # 256 pixels: ceil(256 / step) steps
        (curve,) = deletion_curve(model, x, saliency, pixels_per_step=pixels_per_step)
        assert isinstance(curve, Curve)
        assert curve.fractions.shape == curve.scores.shape == (n_steps + 1,)
        assert curve.fractions[0].item() == 0.0 and curve.fractions[-1].item() == 1.0
        assert curve.fractions[1].item() == pytest.approx(min(pixels_per_step, 256) / 256)
        assert curve.auc == pytest.approx(torch.trapezoid(curve.scores, curve.fractions).item())


def test_curves_do_not_depend_on_batch_size():
    model = RegionModel().eval()
    x = bright_region_images(n=2, seed=3)
    saliency = torch.rand(2, 5, 5, generator=torch.Generator().manual_seed(2))
    for curve_fn in (deletion_curve, insertion_curve):
        one_by_one = curve_fn(model, x, saliency, class_idx=[0, 1], pixels_per_step=16, batch_size=1)
        batched = curve_fn(model, x, saliency, class_idx=[0, 1], pixels_per_step=16, batch_size=7)
        for single, many in zip(one_by_one, batched, strict=True):
            torch.testing.assert_close(single.scores, many.scores)
            assert single.auc == pytest.approx(many.auc)


def test_insertion_starts_from_the_blurred_image():
    model = RegionModel().eval()
    x = bright_region_images(n=1)
    blurred = rise_blur(x, 11, 5.0)
    (curve,) = insertion_curve(model, x, torch.rand(1, 4, 4), class_idx=0, pixels_per_step=32)
    with torch.no_grad():
        expected_start = torch.softmax(model(blurred), dim=1)[0, 0]
        expected_end = torch.softmax(model(x), dim=1)[0, 0]
    assert curve.scores[0].item() == pytest.approx(expected_start.item(), rel=1e-5)
    assert curve.scores[-1].item() == pytest.approx(expected_end.item(), rel=1e-5)


def _rise_kernel_by_formula(size: int, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """RISE's kernel from a closed form: scipy's 'reflect' maps source positions c + 2nj and 2n - 1 - c + 2nj
    (any integer j) onto the centre c, so output i collects the Gaussian weights of the offsets that reach them."""
    radius = int(truncate * sigma + 0.5)
    total = sum(math.exp(-0.5 * (d / sigma) ** 2) for d in range(-radius, radius + 1))
    centre, period = size // 2, 2 * size
    kernel_1d = []
    for i in range(size):
        value = 0.0
        for j in range(-radius // period - 2, radius // period + 3):
            for source in (centre + period * j, period - 1 - centre + period * j):
                if abs(source - i) <= radius:
                    value += math.exp(-0.5 * ((source - i) / sigma) ** 2) / total
        kernel_1d.append(value)
    kernel_1d = torch.tensor(kernel_1d, dtype=torch.float64)
    return torch.outer(kernel_1d, kernel_1d)


@pytest.mark.parametrize("size, sigma", [(11, 5.0), (11, 1.0), (5, 3.0), (21, 5.0), (3, 2.0), (1, 5.0)])
def test_rise_kernel_is_the_reflected_gaussian_of_the_formula(size, sigma):
    kernel = rise_blur_kernel(size, sigma)
    assert kernel.shape == (size, size) and kernel.dtype == torch.float64
    torch.testing.assert_close(kernel, _rise_kernel_by_formula(size, sigma), rtol=0, atol=1e-15)
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("size, sigma", [(11, 5.0), (11, 1.0), (5, 3.0), (21, 5.0)])
def test_rise_kernel_is_what_rises_gkern_computes_with_scipy(size, sigma):
    ndimage = pytest.importorskip("scipy.ndimage")
    delta = np.zeros((size, size))
    delta[size // 2, size // 2] = 1.0
    expected = torch.from_numpy(ndimage.gaussian_filter(delta, sigma))  # RISE's gkern, before the float32 cast
    torch.testing.assert_close(rise_blur_kernel(size, sigma), expected, rtol=0, atol=1e-15)


def test_rise_kernel_is_nearly_flat_unlike_a_sampled_gaussian():
    kernel = rise_blur_kernel(11, 5.0)
    assert kernel[5, 0] / kernel[5, 5] == pytest.approx(0.936, abs=0.001)  # torchvision's: exp(-25 / 50) = 0.61
    with pytest.raises(ValueError, match="odd"):
        rise_blur_kernel(10, 5.0)
    with pytest.raises(ValueError, match="positive"):
        rise_blur_kernel(11, 0.0)


def test_rise_blur_convolves_each_channel_with_zero_padding():
    x = torch.rand(2, 3, 20, 20, generator=torch.Generator().manual_seed(0))
    kernel = rise_blur_kernel(11, 5.0).float()
    rise_kern = torch.zeros(3, 3, 11, 11)  # RISE's gkern: the kernel on the diagonal, channels not mixed
    for channel in range(3):
        rise_kern[channel, channel] = kernel
    expected = torch.nn.functional.conv2d(x, rise_kern, padding=5)
    torch.testing.assert_close(rise_blur(x, 11, 5.0), expected, rtol=1e-5, atol=1e-6)
    ones = rise_blur(torch.ones(1, 1, 20, 20), 11, 5.0)
    assert ones[0, 0, 10, 10].item() == pytest.approx(1.0, abs=1e-6)  # inside: a weighted mean of ones
    assert ones[0, 0, 0, 0].item() == pytest.approx(kernel[5:, 5:].sum().item(), abs=1e-6)  # corner: zeros padded


def test_average_drop_masks_in_pixel_space():
    model = RegionModel().eval()
    x = bright_region_images(n=2)
    half = (0.5, 0.5, 0.5)
    region = region_mask().float()[None].expand(2, SIZE, SIZE)

    # A map equal to the region keeps exactly the pixels the model uses: no drop, no increase.
    kept = average_drop_increase(model, x, region, mean=half, std=half, class_idx=0)
    assert kept.average_drop == pytest.approx(0.0, abs=1e-4)
    assert kept.increase_in_confidence == 0.0

    # The inverted map blackens the region: pixel 1 -> 0, i.e. normalised 1 -> -1, so the
    # logit goes from 4 * 1 to 4 * (-1) (BatchNorm in eval mode with fresh stats is ~identity).
    scale = 1 / math.sqrt(1 + model.norm.eps)
    y = torch.sigmoid(torch.tensor(4.0 * scale)).item()
    o = torch.sigmoid(torch.tensor(-4.0 * scale)).item()
    dropped = average_drop_increase(model, x, 1 - region, mean=half, std=half, class_idx=0)
    assert dropped.average_drop == pytest.approx(100 * (y - o) / y, rel=1e-4)
    assert dropped.increase_in_confidence == 0.0
    torch.testing.assert_close(dropped.original_scores, torch.full((2,), y))
    torch.testing.assert_close(dropped.explanation_scores, torch.full((2,), o))

    # For class 1 the same blackening raises the probability: 100% increase, no drop.
    raised = average_drop_increase(model, x, 1 - region, mean=half, std=half, class_idx=1)
    assert raised.increase_in_confidence == 100.0
    assert raised.average_drop == 0.0


def test_average_drop_uses_the_given_normalisation():
    model = RegionModel().eval()
    x = bright_region_images(n=1)
    region = region_mask().float()[None]
    imagenet = average_drop_increase(
        model, x, 1 - region, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), class_idx=0
    )
    half = average_drop_increase(model, x, 1 - region, mean=(0.5,) * 3, std=(0.5,) * 3, class_idx=0)
    assert imagenet.explanation_scores.item() != pytest.approx(half.explanation_scores.item())
    with pytest.raises(ValueError, match="one value per channel"):
        average_drop_increase(model, x, region, mean=(0.5,), std=(0.5,))


def test_metrics_leave_the_model_untouched():
    model = RegionModel()
    model.train()  # the user's flag: metrics must run in eval behaviour and restore it
    x = bright_region_images(n=2)
    saliency = torch.rand(2, 4, 4)
    snapshot = ModelSnapshot.take(model)
    deletion_curve(model, x, saliency, pixels_per_step=32)
    insertion_curve(model, x, saliency, pixels_per_step=32)
    average_drop_increase(model, x, saliency, mean=(0.5,) * 3, std=(0.5,) * 3)
    snapshot.assert_unchanged(model)
    with pytest.raises(ValueError, match="one map per image"):
        deletion_curve(model, x, saliency[:1])
    with pytest.raises(ValueError, match="pixels_per_step"):
        insertion_curve(model, x, saliency, pixels_per_step=0)
    snapshot.assert_unchanged(model)


class CountingRegionModel(RegionModel):
    """RegionModel that counts the images it has been shown."""

    def __init__(self) -> None:
        super().__init__()
        self.images_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images_seen += x.shape[0]
        return super().forward(x)


@pytest.mark.parametrize("curve_fn, untouched_step", [(deletion_curve, 0), (insertion_curve, -1)])
def test_curves_reuse_the_probability_of_the_untouched_image(curve_fn, untouched_step):
    model = CountingRegionModel().eval()
    x = bright_region_images(n=2, seed=5)
    saliency = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(4))
    curves = curve_fn(model, x, saliency, class_idx=0, pixels_per_step=32, batch_size=3)  # 256 pixels: 8 steps
    # One pass over x (class and score of the untouched image), then 8 perturbed images per curve, not 9.
    assert model.images_seen == 2 + 2 * 8
    with torch.no_grad():
        untouched = torch.softmax(model(x), dim=1)[:, 0]
    for curve, expected in zip(curves, untouched.tolist(), strict=True):
        assert curve.scores.shape == (9,)
        assert curve.scores[untouched_step].item() == pytest.approx(expected, rel=1e-6)


# --- issue 19, item 13: metrics refuse NaN maps, as the explaining functions refuse NaN inputs ---


def test_every_metric_refuses_a_nan_map():
    from cam_utils.metrics import energy_share, mask_iou, pointing_game
    from cam_utils.sanity.similarity import map_ssim, spearman_correlation

    nan_map = torch.rand(1, 7, 7)
    nan_map[0, 3, 3] = float("nan")
    masks = torch.zeros(1, 28, 28, dtype=torch.bool)
    masks[:, 5:10, 5:10] = True
    for metric in (pointing_game, energy_share, mask_iou):
        with pytest.raises(ValueError, match="NaN or infinite"):
            metric(nan_map, masks)
    for compare in (spearman_correlation, map_ssim):
        with pytest.raises(ValueError, match="NaN or infinite"):
            compare(nan_map, torch.rand(1, 7, 7))


def test_deletion_and_average_drop_refuse_a_nan_map():
    from cam_utils.metrics import average_drop_increase, deletion_curve

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)
    ).eval()
    x = torch.randn(1, 3, 16, 16)
    nan_map = torch.rand(1, 4, 4)
    nan_map[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or infinite"):
        deletion_curve(model, x, nan_map, class_idx=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        average_drop_increase(model, x, nan_map, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), class_idx=0)

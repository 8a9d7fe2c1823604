"""cam_utils' post-processing, similarity measures and metrics against the references of :mod:`.numeric`, one
function per quantity; each returns a :class:`~tests.oracles.compare.Comparison`."""

from __future__ import annotations

import copy

import numpy as np
import torch

from cam_utils import attention_rollout, energy_share, mask_iou, pointing_game, upsample
from cam_utils.metrics import average_drop_increase, deletion_curve, insertion_curve
from cam_utils.sanity import map_ssim, spearman_correlation

from . import numeric
from .compare import Comparison, named_version
from .models import model_and_input, top_classes

#: Both sides in float64 (ranks, Pearson of ranks): only summation order differs.
FLOAT64_TOLERANCE = {"rtol": 1e-10, "peak_atol": 1e-10}
#: A float32 map resized by torch and a float64 one by scikit-image: 1 rounding of the map's size (6e-8), and
#: what follows is smooth in the map (SSIM, shares): 1e-5 of the range leaves a factor 100.
RESIZED_TOLERANCE = {"rtol": 1e-5, "peak_atol": 1e-5}
#: Decisions (hits, pixels above a threshold) compared exactly.
EXACT = {"rtol": 0.0, "peak_atol": 0.0, "scale": 1.0}
#: Probabilities from a float32 forward pass, softmax in float32 (cam_utils) or float64 (scipy): 1e-6 of 1.
PROBABILITY_TOLERANCE = {"rtol": 1e-5, "peak_atol": 1e-6, "scale": 1.0}
SCIPY, SKIMAGE = named_version("scipy"), named_version("scikit-image")
NUMPY = "NumPy (definition)"


def spearman_vs_scipy(absolute: bool) -> Comparison:
    first, second = numeric.random_maps(6, (7, 7), seed=11), numeric.random_maps(6, (7, 7), seed=12, relu=not absolute)
    ours = spearman_correlation(first, second, absolute=absolute)
    quantity = "Spearman ρ of |maps| (ABS)" if absolute else "Spearman ρ, tied zeros"
    return Comparison(
        quantity, f"{SCIPY} stats.spearmanr", ours, numeric.spearman(first, second, absolute), **FLOAT64_TOLERANCE
    )


def ssim_vs(oracle: str) -> Comparison:
    first, second = numeric.random_maps(4, (7, 7), seed=13), numeric.random_maps(4, (7, 7), seed=14)
    ours = map_ssim(first, second, size=(56, 56))
    if oracle == "skimage":
        reference, name = (
            numeric.ssim_skimage(first, second, (56, 56)),
            f"{SKIMAGE} structural_similarity, skimage resize",
        )
    else:
        reference, name = (
            numeric.ssim_formula(first, second, (56, 56)),
            f"SSIM formula (Wang 2004), {SCIPY} uniform_filter",
        )
    return Comparison("SSIM of maps as shown (map_ssim)", name, ours, reference, **RESIZED_TOLERANCE)


def upsample_vs_skimage(mode: str) -> Comparison:
    """7 x 7 -> 56 x 56 (an integer factor: there, torch's "nearest" and scikit-image's centre-aligned nearest
    neighbour are the same), and 7 x 7 -> 50 x 50 for bilinear."""
    maps = numeric.random_maps(3, (7, 7), seed=15, relu=False)
    size = (56, 56) if mode == "nearest" else (50, 50)
    reference = numeric.skimage_resize(maps, size, order=0 if mode == "nearest" else 1)
    tolerance = EXACT if mode == "nearest" else RESIZED_TOLERANCE
    return Comparison(
        f"upsample, {mode}", f"{SKIMAGE} transform.resize", upsample(maps, size, mode=mode), reference, **tolerance
    )


def pointing_game_vs_edt() -> Comparison:
    """Hits for 40 maps and masks at tolerances 0, 1.5, the paper's (4.29 px at 64 x 64) and 9 px."""
    maps, masks = numeric.random_maps(40, (8, 8), seed=16, relu=False), numeric.random_masks(40, (64, 64), seed=17)
    ours, reference = [], []
    for tolerance in (0.0, 1.5, 15 * 64 / 224, 9.0):
        ours.append(pointing_game(maps, masks, tolerance=tolerance).numpy())
        reference.append(numeric.pointing_hits(maps, masks, tolerance))
    return Comparison(
        "pointing game hits", f"{SCIPY} ndimage.distance_transform_edt", np.stack(ours), np.stack(reference), **EXACT
    )


def energy_share_vs_numpy() -> Comparison:
    maps, masks = numeric.random_maps(10, (8, 8), seed=18, relu=False), numeric.random_masks(10, (64, 64), seed=19)
    return Comparison(
        "energy share",
        f"{NUMPY} on {SKIMAGE} resize",
        energy_share(maps, masks),
        numeric.energy_share(maps, masks),
        **RESIZED_TOLERANCE,
    )


def mask_iou_vs_numpy() -> Comparison:
    maps, masks = numeric.random_maps(10, (8, 8), seed=20, relu=False), numeric.random_masks(10, (64, 64), seed=21)
    ours = torch.stack([mask_iou(maps, masks, threshold=t) for t in (0.2, 0.5, 1.0)])
    reference = np.stack([numeric.mask_iou(maps, masks, t) for t in (0.2, 0.5, 1.0)])
    return Comparison(
        "IoU of thresholded map and mask", f"{NUMPY} on {SKIMAGE} resize", ours, reference, **RESIZED_TOLERANCE
    )


def perturbation_vs_numpy(kind: str, what: str) -> Comparison:
    """Deletion or insertion on the tiny GAP net, 32 x 32 images, full-resolution maps with tied zeros, 32 pixels a
    step; ``what`` = "scores" (the curves) or "auc"."""
    model, x = model_and_input("tiny_gapnet")
    classes = top_classes(model, x)
    saliency = numeric.random_maps(2, (32, 32), seed=22)
    function = deletion_curve if kind == "deletion" else insertion_curve
    curves = function(model, x, saliency, classes, pixels_per_step=32)
    x_np = x.double().numpy()
    start, final = (x_np, np.zeros_like(x_np)) if kind == "deletion" else (numeric.rise_blur(x_np), x_np)
    references = [
        numeric.perturbation_curve(model, start[i], final[i], saliency[i].double().numpy(), classes[i], 32)
        for i in range(len(classes))
    ]
    oracle = f"{NUMPY} protocol" + (f", {SCIPY} RISE blur" if kind == "insertion" else "") + ", trapezoid rule"
    if what == "auc":
        ours, reference = np.array([c.auc for c in curves]), np.array([auc for _, auc in references])
    else:
        ours, reference = torch.stack([c.scores for c in curves]), np.stack([scores for scores, _ in references])
    return Comparison(f"{kind} {'AUC' if what == 'auc' else 'curve'}", oracle, ours, reference, **PROBABILITY_TOLERANCE)


def average_drop_vs_numpy(what: str) -> Comparison:
    """The trained shapes GAP net and its Grad-CAM maps (4 images, 8 x 8 maps; a drop of 75 %): ``what`` =
    "drop" (Average Drop %) or "scores" (O_c, each explanation image's probability)."""
    from cam_utils import grad_cam, load_model
    from cam_utils.course.shapes import make_shapes
    from cam_utils.course.shapes.registry import SHAPES_MEAN, SHAPES_STD

    model, x = load_model("shapes_gapnet").model, make_shapes(4, seed=3).images
    classes = top_classes(model, x)
    saliency = grad_cam(model, x, "features", classes)
    ours = average_drop_increase(model, x, saliency, SHAPES_MEAN, SHAPES_STD, class_idx=classes)
    drop, kept = numeric.average_drop(model, x.double().numpy(), saliency, SHAPES_MEAN, SHAPES_STD, classes)
    if what == "drop":
        return Comparison("Average Drop %", NUMPY, ours.average_drop, drop, rtol=1e-5, peak_atol=1e-4, scale=100.0)
    return Comparison("Average Drop: O_c", NUMPY, ours.explanation_scores, kept, **PROBABILITY_TOLERANCE)


def timm_attention(model: torch.nn.Module, x: torch.Tensor) -> list[np.ndarray]:
    """Each block's attention probabilities from timm's own non-fused path (a copy, read after its softmax at
    ``attn_drop``, the identity in eval mode): [(N, heads, T, T)]."""
    model = copy.deepcopy(model).eval()
    stored: list[np.ndarray] = []
    for block in model.blocks:
        block.attn.fused_attn = False
        block.attn.attn_drop.register_forward_hook(
            lambda module, inputs, output: stored.append(output.double().numpy())
        )
    with torch.no_grad():
        model(x)
    return stored


def rollout_vs_numpy() -> Comparison:
    from cam_utils.course.shapes import make_shapes
    from cam_utils.course.shapes.vit import ShapesViT

    torch.manual_seed(0)
    model, x = ShapesViT().eval(), make_shapes(2, seed=5).images  # 8 x 8 patches + a class token
    reference = numeric.rollout(timm_attention(model, x)).reshape(2, 8, 8)
    return Comparison(
        "attention rollout", f"{NUMPY} product of timm's attention", attention_rollout(model, x), reference
    )

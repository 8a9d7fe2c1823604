"""Can we trust the heatmap? The full numbers behind notebooks 08 and 09.

Usage: .venv/bin/python benchmarks/bench_trust.py [--shapes-images 500] [--pixels-per-step 224]
                                                  [--photos cat coffee ...] [--skip-score-cam]
                                                  [--parts localisation faithfulness sanity]

Three parts, each printed as tables. The whole run takes tens of minutes on a 2-core CPU (Score-CAM
at Lite0's ``bn2`` is up to 1280 forward passes per photo, deletion/insertion 225 per curve);
``--parts`` runs some of them, ``--skip-score-cam`` leaves Score-CAM out:

1. **Localisation with exact ground truth**: the shipped ShapesGapNet on ``make_shapes`` images
   of a held-out seed; pointing game, energy share and IoU (threshold 0.5) for CAM, Grad-CAM,
   Grad-CAM++, HiResCAM and Score-CAM at the 8x8 feature layer, plus a centre and a random
   baseline; then Grad-CAM at shallower layers, and IoU as a function of the threshold. The same
   for ShapesMLPNet (flatten + hidden layer: no CAM), the network CAM cannot explain.
2. **Faithfulness on the photos** (EfficientNet-Lite0, ``bn2``, top-1 class): deletion AUC
   (lower is better; deleted pixels become 0 in normalised space: mid-grey, since Lite0
   normalises with mean = std = 0.5) and insertion AUC (higher is better; starting from a
   blurred image), RISE's setting of 224 pixels per step; average drop % (lower is better) and
   increase in confidence % (higher).
3. **Sanity check** (Adebayo et al. 2018): cascading randomisation of Lite0 from the classifier
   down to the stem with ``cascading_randomization``'s defaults (Kaiming re-initialisation,
   BatchNorm statistics re-estimated on the photos), two seeds; per stage the feature-map scale
   at ``bn2`` (ratio to the trained model), Spearman with and without absolute values and SSIM,
   mean [min, max] over photos and seeds, for Grad-CAM, Grad-CAM++ and, as a control that must
   fail, an edge map of the input that ignores the model. Then the naive procedure (uniform
   weights, trained BatchNorm statistics kept) to show the collapse, and the independent test.

Notebooks 08 (faithfulness) and 09 (localisation, the sanity check) compute the same quantities on fewer images,
with coarser steps, to stay fast.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from cam_utils.cam import class_activation_map
from cam_utils.course.shapes import (
    SHAPES_MEAN,
    accuracy,
    format_benchmark_table,
    load_shapes_model,
    localisation_benchmark,
    make_shapes,
)
from cam_utils.gradcam import grad_cam
from cam_utils.images import sample_image, sample_image_names
from cam_utils.metrics import average_drop_increase, deletion_curve, insertion_curve, mask_iou
from cam_utils.models import load_model
from cam_utils.sanity import cascading_randomization, collect, default_randomization_stages, format_sanity_table
from cam_utils.scorecam import score_cam
from cam_utils.variants import grad_cam_plus_plus, hires_cam

ExplainFn = Callable[[nn.Module, Tensor, Tensor], Tensor]

# Lite0's preprocessing maps pixels p in [0, 1] to (p - 0.5) / 0.5 (the same as the shapes').
LITE0_MEAN = LITE0_STD = SHAPES_MEAN
# Batches of 16 images are the fastest per image on a 2-core CPU for Lite0 at 224x224.
BATCH_SIZE = 16


def grad_cam_at(layer: str):
    """A localisation-benchmark method: Grad-CAM at one fixed layer."""
    return lambda model, x, c: grad_cam(model, x, layer, c)


def methods_at(feature_layer: str, classifier: str, score_cam_batch: int, with_score_cam: bool) -> dict[str, ExplainFn]:
    """The five methods as fn(model, x, class_idx) -> (N, h, w), all at ``feature_layer``."""
    methods: dict[str, ExplainFn] = {
        "CAM": lambda model, x, c: class_activation_map(model, x, feature_layer, classifier, c),
        "Grad-CAM": lambda model, x, c: grad_cam(model, x, feature_layer, c),
        "Grad-CAM++": lambda model, x, c: grad_cam_plus_plus(model, x, feature_layer, c),
        "HiResCAM": lambda model, x, c: hires_cam(model, x, feature_layer, c),
    }
    if with_score_cam:
        methods["Score-CAM"] = lambda model, x, c: score_cam(model, x, feature_layer, c, batch_size=score_cam_batch)
    return methods


def edge_map(model: nn.Module, x: Tensor, class_idx: Tensor) -> Tensor:
    """A control that ignores the model: local contrast of the input, (N, H-1, W-1)."""
    vertical = x.diff(dim=2).abs().sum(dim=1)[:, :, :-1]  # (N, H-1, W-1)
    horizontal = x.diff(dim=3).abs().sum(dim=1)[:, :-1, :]  # (N, H-1, W-1)
    return vertical + horizontal


def localisation_part(n_images: int, with_score_cam: bool) -> None:
    """Part 1: the synthetic-shapes benchmark, layer choice and threshold sweep; then the network without GAP."""
    shapes = load_shapes_model()
    held_out = make_shapes(1000, seed=10_000)  # the training CLI's held-out seed is seed + 10000
    print(f"ShapesGapNet accuracy on 1000 held-out images (seed 10000): {accuracy(shapes.model, held_out):.3f}")

    methods = methods_at("features", "classifier", score_cam_batch=64, with_score_cam=with_score_cam)
    start = time.perf_counter()
    rows = localisation_benchmark(methods, n_images=n_images, model=shapes.model)
    print(
        f"\nLocalisation on {n_images} images (seed 2024), true class, threshold 0.5, tolerance 0 px "
        f"({time.perf_counter() - start:.0f} s)"
    )
    print(format_benchmark_table(rows))

    layer_methods = {
        f"Grad-CAM at {layer} ({size}x{size})": grad_cam_at(layer)
        for layer, size in [("features.1", 32), ("features.3", 16), ("features.5", 8), ("features", 8)]
    }
    rows = localisation_benchmark(layer_methods, n_images=n_images, model=shapes.model, baselines=False)
    print(f"\nLayer choice: Grad-CAM from shallow to deep, same {n_images} images")
    print(format_benchmark_table(rows))

    data = make_shapes(n_images, seed=2024)
    maps = {
        "CAM": class_activation_map(shapes.model, data.images, "features", "classifier", data.labels),
        "Grad-CAM": grad_cam(shapes.model, data.images, "features", data.labels),
        "Grad-CAM++": grad_cam_plus_plus(shapes.model, data.images, "features", data.labels),
    }
    thresholds = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    print(f"\nIoU against the threshold (fraction of each map's maximum), {n_images} images")
    print(f"{'method':<11}" + "".join(f"{t:>7.1f}" for t in thresholds))
    for name, method_maps in maps.items():
        ious = [mask_iou(method_maps, data.masks, t).mean().item() for t in thresholds]
        print(f"{name:<11}" + "".join(f"{value:7.3f}" for value in ious))
    mlp_part(n_images, with_score_cam, held_out)


def mlp_part(n_images: int, with_score_cam: bool, held_out) -> None:
    """The network without GAP (flatten + hidden layer): accuracy, and Grad-CAM-family maps at every layer."""
    mlp = load_shapes_model("mlpnet")
    print(f"\nShapesMLPNet accuracy on 1000 held-out images (seed 10000): {accuracy(mlp.model, held_out):.3f}")
    methods = methods_at("features", "classifier", score_cam_batch=64, with_score_cam=with_score_cam)
    del methods["CAM"]  # CAM needs GAP + one linear layer: it raises a ValueError on this network
    for layer in ("features.1", "features.3", "features.5"):
        methods[f"Grad-CAM at {layer}"] = grad_cam_at(layer)
    rows = localisation_benchmark(methods, n_images=n_images, model=mlp.model)
    print(f"ShapesMLPNet localisation on {n_images} images (seed 2024), true class, threshold 0.5")
    print(format_benchmark_table(rows))


def faithfulness_part(photo_names: list[str], pixels_per_step: int, with_score_cam: bool) -> None:
    """Part 2: deletion / insertion AUCs and average drop / increase on the photos."""
    net = load_model()
    x = torch.cat([net.preprocess(sample_image(name)) for name in photo_names])  # (P, 3, 224, 224)
    with torch.no_grad():
        classes = net.model(x).argmax(dim=1)  # (P,) top-1 class per photo
    methods = methods_at(
        net.feature_layer_name, "classifier", score_cam_batch=BATCH_SIZE, with_score_cam=with_score_cam
    )
    print(
        "\nPhotos and their top-1 class: "
        + ", ".join(f"{name} -> {net.categories[int(c)]}" for name, c in zip(photo_names, classes, strict=True))
    )
    n_pixels = x.shape[2] * x.shape[3]
    points = -(-n_pixels // pixels_per_step) + 1
    print(f"Deletion / insertion: {pixels_per_step} pixels per step ({points} points per curve)")

    header = f"{'method':<11} {'curve':<9}" + "".join(f"{name[:12]:>13}" for name in photo_names) + f"{'mean':>8}"
    table = [header]
    confidence_rows = []
    for method_name, explain in methods.items():
        start = time.perf_counter()
        maps = explain(net.model, x, classes).detach()  # (P, 7, 7)
        for curve_name, curve_fn in [("deletion", deletion_curve), ("insertion", insertion_curve)]:
            curves = curve_fn(net.model, x, maps, classes, pixels_per_step=pixels_per_step, batch_size=BATCH_SIZE)
            aucs = [curve.auc for curve in curves]
            table.append(
                f"{method_name:<11} {curve_name:<9}"
                + "".join(f"{auc:13.3f}" for auc in aucs)
                + f"{sum(aucs) / len(aucs):8.3f}"
            )
        change = average_drop_increase(net.model, x, maps, LITE0_MEAN, LITE0_STD, classes, batch_size=BATCH_SIZE)
        confidence_rows.append(
            f"{method_name:<11} {change.average_drop:15.1f} {change.increase_in_confidence:13.1f}"
            f"   ({time.perf_counter() - start:.0f} s)"
        )
    print("\nAUC per photo (deletion: lower is better; insertion: higher is better)")
    print("\n".join(table))
    print(f"\n{'method':<11} {'average drop %':>15} {'increase in %':>13}   (over {len(photo_names)} photos)")
    print("\n".join(confidence_rows))


def uniform_keeping_statistics(module: nn.Module, generator: torch.Generator) -> None:
    """The naive randomisation: U(+-1/sqrt(fan_in)) weights, U(-1, 1) 1-D parameters, BatchNorm statistics kept."""
    with torch.no_grad():
        for parameter in module.parameters():
            bound = parameter[0].numel() ** -0.5 if parameter.dim() >= 2 else 1.0
            parameter.uniform_(-bound, bound, generator=generator)


def sanity_part(photo_names: list[str], seeds: tuple[int, ...] = (0, 1)) -> None:
    """Part 3: cascading randomisation (sound and naive) and the independent test, on Lite0 at bn2."""
    net = load_model()
    x = torch.cat([net.preprocess(sample_image(name)) for name in photo_names])  # (P, 3, 224, 224)
    # BatchNorm statistics of a randomised network come from the other sample photos, as in notebook 09: estimated on
    # the explained batch, each photo's map would depend on its companions.
    others = [name for name in sample_image_names() if name not in photo_names]
    if not others:
        raise SystemExit(
            "--photos: leave at least one sample photo out, for the BatchNorm statistics of the "
            "randomised networks (notebook 09 explains 3 and estimates on the other 3)"
        )
    reference = torch.cat([net.preprocess(sample_image(name)) for name in others])
    stages = default_randomization_stages(net.model)
    layer = net.feature_layer_name
    explainers: dict[str, ExplainFn] = {
        "Grad-CAM": lambda model, images, c: grad_cam(model, images, layer, c),
        "Grad-CAM++": lambda model, images, c: grad_cam_plus_plus(model, images, layer, c),
    }
    for name, explain in explainers.items():
        start = time.perf_counter()
        runs = [
            cascading_randomization(
                net.model, x, explain, stages=stages, seed=seed, feature_layer=layer, batchnorm_images=reference
            )
            for seed in seeds
        ]
        print(
            f"\nSanity check, {name} at {layer}: cascading randomisation of Lite0, {len(photo_names)} photos x "
            f"seeds {seeds}; mean [min, max] ({time.perf_counter() - start:.0f} s)"
        )
        print(format_sanity_table(runs))
    edge = cascading_randomization(net.model, x, edge_map, stages=stages, batchnorm_images=reference)
    edge_rho = collect(edge, "spearman")[1]
    print(
        f"\nControl, edge map (ignores the model): Spearman {edge_rho.min().item():.3f} to {edge_rho.max().item():.3f} "
        "at every stage"
    )

    naive = cascading_randomization(
        net.model,
        x,
        explainers["Grad-CAM"],
        stages=stages,
        feature_layer=layer,
        randomize=uniform_keeping_statistics,
        reestimate_batchnorm=False,
    )
    print(
        "\nThe naive procedure (uniform weights, trained BatchNorm statistics kept), Grad-CAM, seed 0: "
        "the activations at bn2 collapse"
    )
    print(format_sanity_table(naive))
    trained_scale = naive[0].feature_scale
    print(
        "feature-map scale at bn2 (mean spatial std per channel), trained: "
        + ", ".join(f"{value:.3f}" for value in trained_scale.tolist())
        + "; after the last stage: "
        + ", ".join(f"{value:.4f}" for value in naive[-1].feature_scale.tolist())
    )

    independent = cascading_randomization(
        net.model,
        x,
        explainers["Grad-CAM"],
        stages=stages,
        cascade=False,
        feature_layer=layer,
        batchnorm_images=reference,
    )
    print("\nIndependent randomisation (one stage at a time), Grad-CAM, seed 0")
    print(format_sanity_table(independent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shapes-images", type=int, default=500, help="synthetic images for the localisation benchmark"
    )
    parser.add_argument(
        "--pixels-per-step",
        type=int,
        default=224,
        help="deletion/insertion step (RISE's one-image example: 224; its dataset run: 1,792)",
    )
    parser.add_argument("--photos", nargs="+", default=sample_image_names(), help="sample photos to use")
    parser.add_argument(
        "--sanity-photos",
        nargs="+",
        default=["cat_and_coffee", "coffee", "rocket"],
        help="photos the sanity check explains (notebook 09's); the others estimate BatchNorm statistics",
    )
    parser.add_argument("--skip-score-cam", action="store_true", help="leave Score-CAM out (the slow part)")
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["localisation", "faithfulness", "sanity"],
        choices=["localisation", "faithfulness", "sanity"],
        help="which parts to run",
    )
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average {load:.1f}"
    )
    start = time.perf_counter()
    if "localisation" in args.parts:
        localisation_part(args.shapes_images, with_score_cam=not args.skip_score_cam)
    if "faithfulness" in args.parts:
        faithfulness_part(list(args.photos), args.pixels_per_step, with_score_cam=not args.skip_score_cam)
    if "sanity" in args.parts:
        sanity_part(list(args.sanity_photos))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

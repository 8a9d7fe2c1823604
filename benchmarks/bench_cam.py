"""How much does a map cost, compared with one forward pass and with pytorch-grad-cam?

Usage: .venv/bin/python benchmarks/bench_cam.py [--rounds 40] [--warmup 5] [--scorecam-runs 1]

Setting: EfficientNet-Lite0 (pretrained, ``load_model()``), its feature layer ``bn2``
(1280 × 7 × 7), one 224×224 image, batch 1, torch's default number of threads.

Every round calls each method once, in an order rotated by one position per round, so a
slow drift of the machine (other processes, CPU frequency) affects all methods alike; the
table shows each method's median over the rounds (wall clock, milliseconds).

pytorch-grad-cam 1.5.7 (``pip install grad-cam==1.5.7``, the ``bench`` extra) gets its own
deep copy of the model: it calls ``model.eval()`` and writes every parameter's ``.grad``
(a full ``loss.backward()``), which must not disturb our measurements. Its ``GradCAM``
returns a 224×224 map normalised in numpy (cv2 resize); our row "grad_cam → 224, normalised"
does the same amount of work in torch.

Targets: Grad-CAM ≤ 1.10× a forward; ≥ 3× faster than pytorch-grad-cam; CAM for all 1000
classes ≈ one forward. Score-CAM is timed separately (``--scorecam-runs``): it runs one
forward pass per channel, 1280 masked images for this layer.

After the timings, the script compares our maps with pytorch-grad-cam's: at 7×7 (their map
before resizing, from ``get_cam_image`` on the activations and gradients they recorded) and
at 224×224 (their final output).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from cam_utils.cam import class_activation_map
from cam_utils.gradcam import grad_cam
from cam_utils.images import sample_image
from cam_utils.models import load_model
from cam_utils.postprocess import normalize, upsample
from cam_utils.scorecam import score_cam
from cam_utils.variants import grad_cam_plus_plus, hires_cam


def time_interleaved(
    methods: dict[str, Callable[[], object]], rounds: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(wall-clock ms, CPU ms) per call for each method; round r starts at method r mod M.

    The CPU time is this process's (all its threads): on a busy machine it counts only the
    work done, while the wall clock also counts waiting for a core.
    """
    names = list(methods)
    for _ in range(warmup):
        for name in names:
            methods[name]()
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            methods[name]()
            wall[name].append((time.perf_counter() - wall_start) * 1000)
            cpu[name].append((time.process_time() - cpu_start) * 1000)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds (each calls every method once)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds first")
    parser.add_argument("--scorecam-runs", type=int, default=1, help="Score-CAM calls to time (each ~1280 forwards)")
    parser.add_argument("--image", default="cat", help="sample image name (cam_utils.sample_image_names())")
    args = parser.parse_args(argv)

    import pytorch_grad_cam
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
    from pytorch_grad_cam.utils.image import scale_cam_image
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {load:.1f}; grad-cam {getattr(pytorch_grad_cam, '__version__', '1.5.7')}"
    )

    net = load_model()
    model, layer = net.model, net.feature_layer_name
    x = net.preprocess(sample_image(args.image))  # (1, 3, 224, 224)
    with torch.no_grad():
        class_idx = int(model(x).argmax())
    print(
        f"EfficientNet-Lite0, layer {layer}, image {args.image!r} 224×224, class {class_idx} "
        f"'{net.categories[class_idx]}'; {args.rounds} rounds after {args.warmup} warm-up rounds\n"
    )

    their_model = copy.deepcopy(model)  # theirs calls .eval() and writes .grad: keep it away from ours
    their_layer = their_model.get_submodule(layer)
    their_cam = GradCAM(model=their_model, target_layers=[their_layer])
    targets = [ClassifierOutputTarget(class_idx)]

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return model(x)

    methods: dict[str, Callable[[], object]] = {
        "forward (torch.no_grad)": forward,
        "grad_cam (ours, 7×7)": lambda: grad_cam(model, x, layer, class_idx),
        "grad_cam → 224, normalised": lambda: normalize(upsample(grad_cam(model, x, layer, class_idx), 224)),
        "pytorch-grad-cam GradCAM": lambda: their_cam(input_tensor=x, targets=targets),
        "CAM, 1 class": lambda: class_activation_map(model, x, layer, net.classifier, class_idx),
        "CAM, all 1000 classes": lambda: class_activation_map(model, x, layer, net.classifier, "all"),
        "grad_cam_plus_plus (ours)": lambda: grad_cam_plus_plus(model, x, layer, class_idx),
        "hires_cam (ours)": lambda: hires_cam(model, x, layer, class_idx),
    }
    timings, cpu_timings = time_interleaved(methods, args.rounds, args.warmup)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu_timings.items()}

    scorecam_ms: list[float] = []
    scorecam_cpu_ms: list[float] = []
    for _ in range(args.scorecam_runs):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        score_cam(model, x, layer, class_idx, batch_size=64)
        scorecam_ms.append((time.perf_counter() - wall_start) * 1000)
        scorecam_cpu_ms.append((time.process_time() - cpu_start) * 1000)
    if scorecam_ms:
        medians["score_cam (ours, 1280 forwards)*"] = statistics.median(scorecam_ms)
        cpu_medians["score_cam (ours, 1280 forwards)*"] = statistics.median(scorecam_cpu_ms)

    forward_ms, theirs_ms = medians["forward (torch.no_grad)"], medians["pytorch-grad-cam GradCAM"]
    cpu_forward, cpu_theirs = cpu_medians["forward (torch.no_grad)"], cpu_medians["pytorch-grad-cam GradCAM"]
    print(f"{'':<36} {'--------- wall clock ---------':>41}  {'---------- CPU time ----------':>30}")
    print(
        f"{'method':<36} {'median ms':>10} {'IQR ms':>8} {'× forward':>10} {'× theirs':>9}  "
        f"{'median ms':>10} {'× forward':>10} {'× theirs':>9}"
    )
    for name, median in medians.items():
        values = timings.get(name, scorecam_ms)
        quartiles = statistics.quantiles(values, n=4) if len(values) >= 2 else [median, median, median]
        cpu = cpu_medians[name]
        print(
            f"{name:<36} {median:10.2f} {quartiles[2] - quartiles[0]:8.2f} {median / forward_ms:10.2f} "
            f"{median / theirs_ms:9.2f}  {cpu:10.2f} {cpu / cpu_forward:10.2f} {cpu / cpu_theirs:9.2f}"
        )
    print("(× theirs: ratio to pytorch-grad-cam's GradCAM; IQR: interquartile range of the rounds)")
    if scorecam_ms:
        print(
            f"* Score-CAM: median of {len(scorecam_ms)} run(s), 1280 masked 224×224 images in batches of 64; "
            "it needs no gradients but one forward pass per channel."
        )
    print(
        f"\nGrad-CAM: {medians['grad_cam (ours, 7×7)'] / forward_ms:.2f}× a forward (target ≤ 1.10); "
        f"pytorch-grad-cam is {theirs_ms / medians['grad_cam → 224, normalised']:.1f}× slower than ours with the "
        f"same 224 output (target ≥ 3); CAM for all classes: {medians['CAM, all 1000 classes'] / forward_ms:.2f}× a forward."
    )

    # --- do the maps agree? ----------------------------------------------------------------
    ours_7 = normalize(grad_cam(model, x, layer, class_idx))[0]  # (7, 7)
    theirs_224 = their_cam(input_tensor=x, targets=targets)[0]  # (224, 224) numpy, normalised
    recorded = their_cam.activations_and_grads
    activations, gradients = recorded.activations[0].numpy(), recorded.gradients[0].numpy()
    theirs_raw = np.maximum(their_cam.get_cam_image(x, their_layer, targets, activations, gradients, False), 0)
    theirs_7 = scale_cam_image(theirs_raw)[0]  # their min-max (with +1e-7), before resizing
    ours_224 = normalize(upsample(ours_7, 224)).numpy()
    ours_with_their_resize = scale_cam_image(scale_cam_image(ours_7.numpy()[None], (224, 224)))[0]
    print("\nAgreement with pytorch-grad-cam (normalised maps, values in [0, 1]):")
    print(f"  Grad-CAM 7×7, before resizing:              max |diff| = {np.abs(ours_7.numpy() - theirs_7).max():.2e}")
    print(f"  Grad-CAM 224×224, torch vs cv2 bilinear:    max |diff| = {np.abs(ours_224 - theirs_224).max():.2e}")
    print(
        f"  same 7×7 map, our upsample vs their resize: max |diff| = {np.abs(ours_224 - ours_with_their_resize).max():.2e}"
    )
    print(
        f"  our 7×7 map with their resize vs theirs:    max |diff| = {np.abs(ours_with_their_resize - theirs_224).max():.2e}"
    )

    their_cam.activations_and_grads.release()
    their_plus_plus = GradCAMPlusPlus(model=their_model, target_layers=[their_layer])
    their_plus_plus(input_tensor=x, targets=targets)
    recorded = their_plus_plus.activations_and_grads
    activations, gradients = recorded.activations[0].numpy(), recorded.gradients[0].numpy()
    their_pp_raw = np.maximum(their_plus_plus.get_cam_image(x, their_layer, targets, activations, gradients, False), 0)
    ours_pp = normalize(grad_cam_plus_plus(model, x, layer, class_idx))[0].numpy()
    median_g2 = float(np.median(gradients[gradients != 0] ** 2))
    print(
        f"  Grad-CAM++ 7×7 (theirs adds eps = 1e-6 to eq. 19's denominator; median g² here is {median_g2:.1e}): "
        f"max |diff| = {np.abs(ours_pp - scale_cam_image(their_pp_raw)[0]).max():.2e}"
    )
    their_plus_plus.activations_and_grads.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How long does the explorer take to answer each control? (kernel time, in milliseconds)

Usage: .venv/bin/python benchmarks/bench_widgets.py [--repeats 3] [--threads N] [--image-a NAME] [--image-b NAME]

For every repeat the photo is switched (which clears the explorer's caches); then, at every
layer from shallow to deep, each control is changed once to a value not seen before for
that photo, so each number is the uncached, worst-case path:

* image: a new photo: one forward pass, top-10, the first map;
* layer (new): one forward pass split at that layer, then the map;
* class (new): Grad-CAM for another class: one backward pass on the cached forward;
* method (new): counterfactual Grad-CAM, one backward pass;
* layer (seen, cached forward): back to a layer seen before: no forward pass, one backward
  pass when the class or method there is new;
* opacity / colormap / interpolation: redraw only.

Every row covers all layers, so "max" includes the shallowest layer (112×112 maps,
backward through almost the whole network). Target: at most 100 ms per control on a
2-core CPU. The wall-clock numbers depend on what else runs on the machine (the load
average is printed first); the CPU-time columns count this process's work, including
threads that spin while they wait. On a machine where other programs also use the cores,
PyTorch's OpenMP threads spin-wait for each other and a 40 ms update can take seconds:
``--threads 1`` or the environment variable ``OMP_WAIT_POLICY=PASSIVE`` avoid that.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict

import torch

from cam_utils.course.explorer import COLORMAPS, explore
from cam_utils.models import load_model

TARGET_MS = 100.0


def timed_change(control, value) -> tuple[float, float]:
    """Set a control's value (the explorer redraws synchronously).

    Returns (wall-clock ms, CPU ms of this process). On a busy machine the wall clock also
    counts time spent waiting for a core; the CPU time counts only the work done.
    """
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    control.value = value
    return (time.perf_counter() - wall_start) * 1000, (time.process_time() - cpu_start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="photo switches (each clears the caches)")
    parser.add_argument("--image-a", default="cat_and_coffee")
    parser.add_argument("--image-b", default="coffee")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} (1 min)"
    )
    net = load_model()
    start = time.perf_counter()
    explorer = explore(net, args.image_a)
    print(f"explore(): {(time.perf_counter() - start) * 1000:.0f} ms (model already loaded)")
    explorer.opacity.value = 0.5
    # warm-up: the first pass through each layer pays one-off allocations
    for layer in net.stages:
        explorer.layer.value = layer

    timings: dict[str, list[tuple[float, float]]] = defaultdict(list)
    images = [args.image_b, args.image_a]
    colormaps = iter(COLORMAPS * 1000)
    for repeat in range(args.repeats):
        explorer.method.value = "Grad-CAM"
        explorer.layer.value = net.feature_layer_name
        timings["image (new photo)"].append(timed_change(explorer.image_picker, images[repeat % 2]))
        previous_layer = net.feature_layer_name
        for index, layer in enumerate(net.stages):
            explorer.method.value = "Grad-CAM"
            if layer != net.feature_layer_name:  # the feature layer's forward came with the photo
                timings["layer (new)"].append(timed_change(explorer.layer, layer))
            # a class not yet explained at this layer: options[1 + index % 9] changes with the layer
            new_class = explorer.class_select.options[1 + index % 9][1]
            if new_class == explorer.class_select.value:
                new_class = explorer.class_select.options[0][1]
            timings["class (new)"].append(timed_change(explorer.class_select, new_class))
            timings["method (new)"].append(timed_change(explorer.method, "Counterfactual Grad-CAM"))
            timings["layer (seen, cached forward)"].append(timed_change(explorer.layer, previous_layer))
            explorer.layer.value = layer
            timings["opacity"].append(timed_change(explorer.opacity, 0.8 if explorer.opacity.value != 0.8 else 0.3))
            timings["colormap"].append(timed_change(explorer.cmap, next(colormaps)))
            other = "nearest" if explorer.interpolation.value == "bilinear" else "bilinear"
            timings["interpolation"].append(timed_change(explorer.interpolation, other))
            previous_layer = layer
        explorer.method.value = "CAM"
        explorer.layer.value = net.feature_layer_name
        timings["method CAM (feature layer)"].append(timed_change(explorer.method, "Grad-CAM"))
        timings["method CAM (feature layer)"].append(timed_change(explorer.method, "CAM"))

    print(
        f"\n{'control':28s} {'n':>4s} {'wall median':>12s} {'wall max':>9s} {'CPU median':>11s} {'CPU max':>8s}"
        f"   (ms; target <= {TARGET_MS:.0f} ms wall)"
    )
    all_within = True
    for control, pairs in timings.items():
        wall, cpu = [pair[0] for pair in pairs], [pair[1] for pair in pairs]
        all_within &= max(wall) <= TARGET_MS
        verdict = "ok" if max(wall) <= TARGET_MS else ("median ok" if statistics.median(wall) <= TARGET_MS else "SLOW")
        print(
            f"{control:28s} {len(pairs):4d} {statistics.median(wall):12.1f} {max(wall):9.1f} "
            f"{statistics.median(cpu):11.1f} {max(cpu):8.1f}   {verdict}"
        )
    print("\nall controls within target" if all_within else "\nsome control exceeded the target (see wall max)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

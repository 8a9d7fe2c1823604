"""How long does the explorer take to answer each control? (kernel time, in milliseconds)

Usage: .venv/bin/python benchmarks/bench_widgets.py [--repeats 3] [--image-a cat_and_coffee] [--image-b coffee]

For every repeat the photo is switched (which clears the explorer's caches); then, at every
layer from shallow to deep, each control is changed once to a value not seen before for
that photo, so each number is the uncached, worst-case path:

* image: a new photo: one forward pass, top-10, the first map;
* layer (new): one forward pass split at that layer, then the map;
* class (new): Grad-CAM for another class: one backward pass on the cached forward;
* method (new): counterfactual Grad-CAM, one backward pass;
* layer (cached): back to a layer seen before: no pass at all;
* opacity / colormap / interpolation: redraw only.

Every row covers all layers, so "max" includes the shallowest layer (112×112 maps,
backward through almost the whole network). Target: at most 100 ms per control on a
2-core CPU. The numbers depend on the machine and on what else runs on it: the load
average is printed first.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict

import torch

from cam_utils.models import load_model
from cam_utils.widgets import COLORMAPS, explore

TARGET_MS = 100.0


def timed_change(control, value) -> float:
    """Set a control's value (the explorer redraws synchronously) and return the milliseconds taken."""
    start = time.perf_counter()
    control.value = value
    return (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="photo switches (each clears the caches)")
    parser.add_argument("--image-a", default="cat_and_coffee")
    parser.add_argument("--image-b", default="coffee")
    args = parser.parse_args(argv)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} (1 min)")
    net = load_model()
    start = time.perf_counter()
    explorer = explore(net, args.image_a)
    print(f"explore(): {(time.perf_counter() - start) * 1000:.0f} ms (model already loaded)")
    explorer.opacity.value = 0.5
    # warm-up: the first pass through each layer pays one-off allocations
    for layer in net.stages:
        explorer.layer.value = layer

    timings: dict[str, list[float]] = defaultdict(list)
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
            timings["layer (cached)"].append(timed_change(explorer.layer, previous_layer))
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

    print(f"\n{'control':28s} {'n':>4s} {'median ms':>10s} {'max ms':>8s}  target <= {TARGET_MS:.0f} ms")
    all_within = True
    for control, values in timings.items():
        median, worst = statistics.median(values), max(values)
        verdict = "ok" if worst <= TARGET_MS else ("median ok" if median <= TARGET_MS else "SLOW")
        all_within &= worst <= TARGET_MS
        print(f"{control:28s} {len(values):4d} {median:10.1f} {worst:8.1f}  {verdict}")
    print("\nall controls within target" if all_within else "\nsome control exceeded the target (see max)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

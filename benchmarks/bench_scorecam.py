"""The fastest exact configuration of Score-CAM's masked forward passes.

Usage: .venv/bin/python benchmarks/bench_scorecam.py [--layer blocks.6] [--rounds 2] [--threads 2 1] [--short]

Setting: EfficientNet-Lite0 (pretrained), the ``cat_and_coffee`` photo, 224×224, one image; the layer
``blocks.6`` (320 channels, the explorer's deepest stage; ``--layer bn2`` for the 1280 channels of the
feature layer). Every configuration computes the same channel weights α_k^c; the script asserts that
they are equal *bit for bit* to those of the original configuration (``torch.no_grad()``, contiguous
input, batches of 64, every channel) and marks a configuration "exact" only then. It also asserts that
``cam_utils.score_cam`` (the library's default) gives the original map bit for bit.

Knobs: batch size; ``torch.inference_mode()`` instead of ``no_grad``; channels-last input; skipping
the forward pass of a constant channel (its weight is 0 anyway); torch's thread count (a process-wide
setting, so it is only reported here: the library does not change it).

Each configuration runs once per round, rounds interleaved; the table shows the median wall time and
process CPU time per configuration, its speed-up (wall clock) over the original with the first
thread count, and its peak resident memory above the level before it ran ("+MB", Linux). Machine
load is printed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time

import torch

from cam_utils.hooks import forward_recording
from cam_utils.images import sample_image
from cam_utils.models import load_model
from cam_utils.scorecam import DEFAULT_SETTINGS, ScoreCamSettings, masked_scores, score_cam

ORIGINAL = ("original (no_grad, every channel)", ScoreCamSettings(inference_mode=False, skip_constant=False), 64)
CONFIGURATIONS = [
    ORIGINAL,
    ("no_grad, skip constant", ScoreCamSettings(inference_mode=False), 64),
    ("inference_mode, skip constant", ScoreCamSettings(), 64),
    ("  batch 8", ScoreCamSettings(), 8),
    ("  batch 16", ScoreCamSettings(), 16),
    ("  batch 32", ScoreCamSettings(), 32),
    ("  batch 128", ScoreCamSettings(), 128),
    ("  batch 16, channels-last input", ScoreCamSettings(channels_last=True), 16),
]


def _memory_mb(field: str) -> int:
    """VmRSS or VmHWM of this process in MB (Linux); 0 elsewhere."""
    try:
        status = open("/proc/self/status").read()
    except OSError:
        return 0
    return int(re.search(rf"{field}:\s+(\d+)", status).group(1)) // 1024


def _reset_peak() -> None:
    """Start a new VmHWM measurement (Linux: writing 5 to clear_refs resets the peak to the current RSS)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="blocks.6")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="torch thread counts to compare")
    parser.add_argument("--short", action="store_true", help="only the original and the library's default")
    args = parser.parse_args(argv)
    default_batch = score_cam.__defaults__[1]  # batch_size
    configurations = [ORIGINAL, ("library default", DEFAULT_SETTINGS, default_batch)] if args.short else CONFIGURATIONS

    net = load_model()
    x = net.preprocess(sample_image("cat_and_coffee"))  # (1, 3, 224, 224)
    feature_maps, logits = forward_recording(net.model, x, args.layer)  # (1, C, h, w)
    class_idx = logits.argmax(dim=1)
    constant = int((feature_maps.amax(dim=(2, 3)) == feature_maps.amin(dim=(2, 3))).sum())
    print(
        f"EfficientNet-Lite0, layer {args.layer}: {feature_maps.shape[1]} channels, {constant} of them constant "
        f"(no forward pass needed); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )

    reference = masked_scores(net.model, x, feature_maps, class_idx, ORIGINAL[2], settings=ORIGINAL[1])
    expected_map = torch.relu(torch.einsum("nc,nchw->nhw", reference, feature_maps))
    assert torch.equal(score_cam(net.model, x, args.layer), expected_map), "the library's default changed the map"

    runs = [(threads, *configuration) for threads in args.threads for configuration in configurations]
    wall: dict[int, list[float]] = {index: [] for index in range(len(runs))}
    cpu: dict[int, list[float]] = {index: [] for index in range(len(runs))}
    deviation: dict[int, float] = {}  # largest |α - α_original| over the rounds
    extra_memory: dict[int, int] = {}  # peak resident memory above the level before the run, MB
    for round_index in range(args.rounds):
        order = list(range(len(runs)))
        order = order[round_index % len(order) :] + order[: round_index % len(order)]
        for index in order:
            threads, _, settings, batch_size = runs[index]
            torch.set_num_threads(threads)
            resident_before = _memory_mb("VmRSS")
            _reset_peak()
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            weights = masked_scores(net.model, x, feature_maps, class_idx, batch_size, settings=settings)
            wall[index].append(time.perf_counter() - wall_start)
            cpu[index].append(time.process_time() - cpu_start)
            extra_memory[index] = max(extra_memory.get(index, 0), _memory_mb("VmHWM") - resident_before)
            difference = 0.0 if torch.equal(weights, reference) else float((weights - reference).abs().max())
            deviation[index] = max(deviation.get(index, 0.0), difference)

    base = {threads: statistics.median(wall[runs.index((threads, *ORIGINAL))]) for threads in args.threads}
    print(
        f"{'threads':>7s}  {'configuration':<34s} {'batch':>5s} {'wall s':>7s} {'CPU s':>7s} {'speed-up':>8s} "
        f"{'+MB':>6s}  exact (else the largest change of a weight)"
    )
    for index, (threads, name, _, batch_size) in enumerate(runs):
        median_wall = statistics.median(wall[index])
        print(
            f"{threads:7d}  {name:<34s} {batch_size:5d} {median_wall:7.1f} {statistics.median(cpu[index]):7.1f} "
            f"{base[args.threads[0]] / median_wall:7.2f}× {extra_memory[index]:6d}  "
            f"{'yes' if deviation[index] == 0 else f'NO ({deviation[index]:.1e})'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

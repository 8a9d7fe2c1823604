"""Score-CAM against its limit, the plain forward passes it needs; and the fastest exact configuration.

Usage: .venv/bin/python benchmarks/bench_scorecam.py [--layer blocks.6] [--rounds 5] [--device cpu]
       [--configurations [--threads 2 1] [--short]]

**The limit** (always printed): Score-CAM's cost is one forward pass per channel it evaluates (the
channels that are not constant), so no implementation can be faster than that many plain forward passes
of the model (``model(batch)`` under ``torch.inference_mode()``, eval mode, nothing else). The script
times, in one run and interleaved round by round, ``cam_utils.score_cam`` (the whole call: the forward
that records A, the masks, the masked passes) next to exactly as many plain forward passes (the last
batch shorter) at each batch size of ``BATCH_SIZES``, the library's among them, and prints the ratios
to the library's batch size and to the fastest one on this machine. On a shared machine the fastest of
the rounds is the least disturbed measurement: the ratios use it, and the medians are shown beside it.
Target: ≤ 1.2.

Setting: EfficientNet-Lite0 (pretrained), the ``cat_and_coffee`` photo, 224×224, one image; the layer
``blocks.6`` (320 channels, the explorer's deepest stage; ``--layer bn2`` for the 1280 channels of the
feature layer).

**The configurations** (``--configurations``): every configuration computes the same channel weights
α_k^c; the script asserts that they are equal *bit for bit* to those of the original configuration
(``torch.no_grad()``, contiguous input, batches of 64, every channel) and marks a configuration "exact"
only then. It also asserts that ``cam_utils.score_cam`` (the library's default) gives the original map
bit for bit. Knobs: batch size; ``torch.inference_mode()`` instead of ``no_grad``; channels-last input;
skipping the forward pass of a constant channel (its weight is 0 anyway); torch's thread count (a
process-wide setting, so it is only reported here: the library does not change it). Each configuration
runs once per round, rounds interleaved; the table shows the median wall time and process CPU time per
configuration, its speed-up (wall clock) over the original with the first thread count, and its peak
resident memory above the level before it ran ("+MB", Linux). Machine load is printed.
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
#: The batch sizes tried for the plain forward passes' limit.
BATCH_SIZES = [4, 8, 16, 32, 64]
CONFIGURATIONS = [
    ORIGINAL,
    ("no_grad, skip constant", ScoreCamSettings(inference_mode=False), 64),
    ("inference_mode, skip constant", ScoreCamSettings(), 64),
    ("  batch 4", ScoreCamSettings(), 4),
    ("  batch 8", ScoreCamSettings(), 8),
    ("  batch 16", ScoreCamSettings(), 16),
    ("  batch 32", ScoreCamSettings(), 32),
    ("  batch 128", ScoreCamSettings(), 128),
    ("  batch 4, channels-last input", ScoreCamSettings(channels_last=True), 4),
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


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_forwards(model: torch.nn.Module, x: torch.Tensor, count: int, batch_size: int) -> float:
    """Seconds for ``count`` plain forward passes of ``x``'s image in batches of ``batch_size`` (the last one
    shorter): the least work any Score-CAM of ``count`` channels must do."""
    batch = x.expand(batch_size, *x.shape[1:]).contiguous()  # (batch_size, 3, H, W)
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, count, batch_size):
            model(batch[: min(batch_size, count - start)])
    _synchronize(x.device)
    return time.perf_counter() - started


def limit_report(
    model: torch.nn.Module, x: torch.Tensor, layer: str, evaluated: int, rounds: int, default_batch: int
) -> None:
    """Score-CAM's time next to ``evaluated`` plain forward passes at each batch size, the library's
    (``default_batch``) among them."""
    plain_forwards(model, x, 2 * default_batch, default_batch)  # warm-up

    def run_score_cam() -> float:
        started = time.perf_counter()
        score_cam(model, x, layer)
        _synchronize(x.device)
        return time.perf_counter() - started

    runs = [("score_cam", run_score_cam)] + [
        (f"plain, batch {size}", lambda size=size: plain_forwards(model, x, evaluated, size)) for size in BATCH_SIZES
    ]
    timings: dict[str, list[float]] = {name: [] for name, _ in runs}
    for round_index in range(rounds):  # interleaved, the order rotated: a drift of a shared machine hits all alike
        shift = round_index % len(runs)
        for name, run in runs[shift:] + runs[:shift]:
            timings[name].append(run())
    # The fastest round is the least disturbed by other processes; the median is shown beside it.
    fastest = {name: min(times) for name, times in timings.items()}
    best = min(BATCH_SIZES, key=lambda size: fastest[f"plain, batch {size}"])
    print(f"{evaluated} forward passes (the channels score_cam evaluates), {rounds} rounds:")
    print(f"  {'':<22s} {'fastest':>8s} {'median':>8s}  ms per channel (fastest)")
    for name, times in timings.items():
        print(f"  {name:<22s} {min(times):7.2f}s {statistics.median(times):7.2f}s  {min(times) / evaluated * 1e3:6.1f}")
    for size in sorted({default_batch, best}):
        reference = f"plain, batch {size}"
        print(
            f"score_cam / {reference}{' (the fastest batch size)' if size == best else ''}: "
            f"{fastest['score_cam'] / fastest[reference]:.2f} (fastest rounds), "
            f"{statistics.median(timings['score_cam']) / statistics.median(timings[reference]):.2f} (medians)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="blocks.6")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--configurations", action="store_true", help="also the table of exact configurations")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="torch thread counts to compare")
    parser.add_argument("--short", action="store_true", help="only the original and the library's default")
    args = parser.parse_args(argv)
    default_batch = score_cam.__defaults__[1]  # batch_size
    configurations = [ORIGINAL, ("library default", DEFAULT_SETTINGS, default_batch)] if args.short else CONFIGURATIONS

    net = load_model()
    net.model.to(args.device)
    x = net.preprocess(sample_image("cat_and_coffee")).to(args.device)  # (1, 3, 224, 224)
    feature_maps, logits = forward_recording(net.model, x, args.layer)  # (1, C, h, w)
    class_idx = logits.argmax(dim=1)
    constant = int((feature_maps.amax(dim=(2, 3)) == feature_maps.amin(dim=(2, 3))).sum())
    device = torch.cuda.get_device_name() if x.is_cuda else f"{os.cpu_count()} CPUs, {torch.get_num_threads()} threads"
    print(
        f"EfficientNet-Lite0, layer {args.layer}: {feature_maps.shape[1]} channels, {constant} of them constant "
        f"(no forward pass needed); {device}; load average {os.getloadavg()[0]:.1f}"
    )
    limit_report(net.model, x, args.layer, feature_maps.shape[1] - constant, args.rounds, default_batch)
    if not args.configurations:
        return 0

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

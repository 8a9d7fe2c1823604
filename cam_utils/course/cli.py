"""Command line: ``python -m cam_utils IMAGE -o figure.png``.

Loads a photo and a pretrained model (EfficientNet-Lite0 by default, offline), prints the
five most probable classes, computes a map (Grad-CAM by default) for one class and writes
the four-panel figure of ``plot_steps``: image → raw map → resized map → overlay.

Every expected problem (a missing, unreadable or truncated image, an unknown class or layer,
an output path that cannot be written or that is the input photo) ends with one line
``error: ...`` on stderr and exit status 1, no traceback, and says which option to change
(``_cli_checks`` words the library's structured errors, :mod:`cam_utils.errors`, with the options);
the options are checked before the computation. Anything else is a bug: one line that says so, exit
status 70. ``--debug`` adds the traceback. ``main(argv)`` can also be called from Python (the tests do).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections.abc import Sequence

import torch

from cam_utils._warnings import library_warnings
from cam_utils.class_names import ClassNameError, find_class
from cam_utils.errors import CamUtilsError
from cam_utils.images import DEFAULT_MAX_PIXELS, load_image
from cam_utils.methods import get_method, method_names, registered_methods
from cam_utils.models import model_names, model_view

from ._cli_checks import (
    CommandLineError,
    check_layer_output,
    check_output_path,
    classify_and_probe,
    in_cli_terms,
    load_model_for_cli,
    resolve_layer_option,
    save_figure_whole,
)

__all__ = ["CommandLineError", "build_parser", "main", "resolve_class", "run"]


_EXAMPLES = """\
examples:
  python -m cam_utils cat.jpg -o cat_gradcam.png
      Grad-CAM of the top-1 class at EfficientNet-Lite0's last feature layer (bn2)
  python -m cam_utils cat.jpg --class "egyptian cat" -o cat.png
      a class by (part of) its name, case-insensitive; it must match one class only
  python -m cam_utils cat.jpg --class 285 --method cam -o cat_cam.png
      a class by its ImageNet index (0-999), with CAM
  python -m cam_utils cat.jpg --layer blocks.5 --method hirescam -o cat_hires.png
      another layer (any module name of the model; blocks.5 gives a 7x7 map)
  python -m cam_utils cat.jpg --model vit_b_16 -o cat_vit.png
      a vision transformer: its patch tokens are laid out on their 14x14 grid (downloads once)

"""

_METHOD_NOTES = """\
cam and hirescam maps are signed (no ReLU); every map is min-max normalised for the figure.
scorecam needs one forward pass per non-constant channel of the layer (bn2: up to 1280, under a
minute on a 2-core CPU).
"""


def _methods_epilog() -> str:
    """The --method values, one line each, from the library's method table (cam_utils.methods)."""
    width = max(len(name) for name in method_names())
    lines = [
        f"  {method.name:<{width}}  {method.label}" + (f" ({method.paper})" if method.paper else "")
        for method in registered_methods()
    ]
    return "methods (--method, default gradcam):\n" + "\n".join(lines) + "\n" + _METHOD_NOTES


def _positive_int(text: str) -> int:
    if not re.fullmatch(r"\d[\d_]*", text.strip()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m cam_utils``."""
    parser = argparse.ArgumentParser(
        prog="python -m cam_utils",
        description=(
            "Where does the network look? Classify IMAGE with a pretrained model, print "
            "the top-5 classes, and save the four-panel figure (image, raw heatmap at the feature "
            "resolution, heatmap resized to the image, overlay) for one class."
        ),
        epilog=_EXAMPLES + "\n" + _methods_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image", metavar="IMAGE", help="the photo to explain (PNG, JPEG, BMP, GIF, TIFF, WebP)")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FIGURE",
        help="where to write the figure; the extension chooses the format (.png, .pdf, .svg, .jpg)",
    )
    parser.add_argument(
        "--class",
        dest="class_name",
        metavar="NAME_OR_INDEX",
        default=None,
        help="class to explain: an index (0-999 for the ImageNet models) or a unique, case-insensitive part of its name "
        "(default: the top-1 class)",
    )
    parser.add_argument(
        "--layer",
        default=None,
        metavar="NAME",
        help="dotted module name of the layer to explain at (default: the model's last feature layer)",
    )
    parser.add_argument(
        "--model",
        default="efficientnet_lite0",
        choices=model_names(),
        help="pretrained model (default: efficientnet_lite0, works offline; the other ImageNet models download "
        "their weights once; vit_b_16 is a vision transformer, its tokens are laid out on their 14x14 grid; "
        "the shapes_* models are the small networks trained on cam_utils.course.shapes's shapes, offline: "
        "shapes_gapnet (GAP head), shapes_mlpnet (no GAP), shapes_vit (a tiny vision transformer))",
    )
    parser.add_argument(
        "--method",
        default="gradcam",
        choices=method_names(),
        help="map to compute (default: gradcam; the list below says what each one is)",
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show the progress bar of a long map (scorecam) also when stderr is not a terminal "
        "(on a terminal it is always shown); Ctrl-C stops it, and no figure is written",
    )
    parser.add_argument("--debug", action="store_true", help="on an error, print the full traceback (to report a bug)")
    parser.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"refuse larger images (width x height; default {DEFAULT_MAX_PIXELS:,}, against decompression bombs)",
    )
    return parser


def resolve_class(text: str, categories: Sequence[str]) -> int:
    """Turn ``--class`` into a class index with the library's one rule (``cam_utils.class_names.find_class``).

    Raises ``CommandLineError`` (listing a few candidates) for an ambiguous or unknown name.
    """
    try:
        return find_class(text, categories)
    except ClassNameError as error:
        raise CommandLineError(f"--class: {error}") from None


def _stdout_to_nowhere() -> None:
    """The program reading our output has stopped (``| head -1``): further output goes nowhere."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def say(text: str) -> None:
    """Print a line of the report; if the reader of stdout went away, carry on without it (the figure
    is what the command is for)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _stdout_to_nowhere()


def run(args: argparse.Namespace) -> None:
    """Do the work of one command; errors propagate as exceptions."""
    from cam_utils.plotting import plot_steps  # matplotlib is imported only when a figure is drawn

    check_output_path(args.output, args.image)
    image = load_image(args.image, max_pixels=args.max_pixels)  # before the model: a bad file fails fast
    net = load_model_for_cli(args.model)
    layer = resolve_layer_option(net, args.layer)  # an unknown name fails now, suggesting close names
    # Resolve the class before the forward pass: a bad --class fails fast.
    chosen_class = None if args.class_name is None else resolve_class(args.class_name, net.categories)

    x = net.preprocess(image)  # (1, 3, 224, 224)
    logits, probe = classify_and_probe(net, x, layer)  # (1, 1000); what the layer output
    check_layer_output(net, probe, args.method)  # before the (maybe slow) map
    reshape = net.reshape if probe.shape is not None and len(probe.shape) == 3 else None  # tokens -> maps
    top5 = net.top_k(logits[0], k=5)
    say(f"top-5 classes ({net.name}):")
    for rank, (index, name, probability) in enumerate(top5, start=1):
        say(f"  {rank}. {index:4d} {name:<30s} {probability:7.2%}")

    class_idx = top5[0][0] if chosen_class is None else chosen_class
    probability = float(torch.softmax(logits[0], dim=0)[class_idx])
    method = get_method(args.method)
    show_progress = args.progress or sys.stderr.isatty()  # a bar on a terminal; none in a log unless asked
    raw_map = method.compute(net, x, layer, class_idx, reshape=reshape, progress=show_progress)  # (1, h, w)

    title = (
        f"{method.label} for class {class_idx} '{net.categories[class_idx]}' (p = {probability:.1%}), "
        f"{net.name} layer {layer}"
    )
    figure = plot_steps(model_view(net, x), raw_map[0], title=title)
    save_figure_whole(figure, args.output)  # the old file stays whole if this is interrupted
    say(
        f"{method.label} map {tuple(raw_map.shape[1:])} for class {class_idx} '{net.categories[class_idx]}' "
        f"written to {args.output}"
    )


#: Exit statuses besides 0 (success), 2 (invalid arguments: argparse's usage line) and 130 (interrupted).
EXIT_ERROR = 1  # a problem with the input or the environment: one line ``error: ...``
EXIT_INTERNAL_ERROR = 70  # a bug in cam_utils (EX_SOFTWARE of sysexits.h)

#: What the user can fix (the input, an option, the machine); any other exception is a bug of the package.
_USER_ERRORS = (CamUtilsError, OSError, MemoryError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    0: success; 1 (``EXIT_ERROR``): a problem with the input or the environment, reported as one line
    ``error: ...`` on stderr that says what to change; 2: invalid arguments (argparse, with the usage line);
    70 (``EXIT_INTERNAL_ERROR``): an unexpected exception, i.e. a bug, reported as such in one line;
    130: interrupted. ``--debug`` prints the traceback before the line.
    """
    args = build_parser().parse_args(argv)
    messages: list[str] = []
    try:
        try:
            with library_warnings(describe=in_cli_terms) as messages:
                run(args)
        finally:
            for message in messages:  # e.g. HiResCAM cancelling at the chosen layer
                print(f"warning: {message}", file=sys.stderr)
    except KeyboardInterrupt:  # Ctrl-C: the progress bar is erased, no figure was written (it is written whole)
        print("error: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every failure ends in one line; --debug shows where
        if args.debug:
            traceback.print_exc()
        if isinstance(error, _USER_ERRORS):
            print(f"error: {in_cli_terms(error)}", file=sys.stderr)
            return EXIT_ERROR
        print(
            f"error: internal error ({type(error).__name__}: {in_cli_terms(error)}). This is a bug in cam_utils, "
            "not a problem with your input: run the same command with --debug for the traceback, and report it "
            "with that output to the course's maintainers.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR
    return 0

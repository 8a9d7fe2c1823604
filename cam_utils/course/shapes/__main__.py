"""Command line: ``python -m cam_utils.course.shapes train --model NAME`` (and ``list``).

``train`` trains a registered architecture with its recipe (see ``registry.py``), prints the time,
the accuracy on held-out images and the file size, and saves the state_dict to ``--out``. The weights
that ship with the package (``cam_utils/data/shapes_NAME.pt``) are replaced only with
``--replace-shipped``, and a model below :data:`MIN_ACCURACY` on held-out images (worse than a trained
network, e.g. after too few epochs) is not saved unless ``--force``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .data import make_shapes
from .registry import SHAPES_MODELS, shapes_architecture
from .training import accuracy, train_shapes_model

#: Images per optimisation step (train_shapes_model's default): the fewest training images that make a step.
BATCH_SIZE = 64

#: Held-out accuracy below which a trained model is not saved without --force (5 classes: chance is 20 %).
MIN_ACCURACY = 0.5


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= minimum, with a message that says so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; see ``python -m cam_utils.course.shapes --help``."""
    parser = argparse.ArgumentParser(
        prog="python -m cam_utils.course.shapes", description="Train the synthetic-shapes networks."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the registered architectures")
    train = commands.add_parser("train", help="train one architecture and save its state_dict")
    train.add_argument("--model", default="gapnet", choices=sorted(SHAPES_MODELS), help="architecture (default gapnet)")
    train.add_argument(
        "--out", type=Path, default=None, help="where to save the weights (required unless --replace-shipped)"
    )
    train.add_argument(
        "--replace-shipped",
        action="store_true",
        help="save over the weights that ship with the package (cam_utils/data/shapes_NAME.pt)",
    )
    train.add_argument(
        "--n-train", type=_at_least(BATCH_SIZE), default=None, help="training images (default: the recipe's)"
    )
    train.add_argument("--epochs", type=_at_least(1), default=None, help="passes over the data (default: the recipe's)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--n-test", type=_at_least(1), default=1000, help="held-out images for the accuracy report")
    train.add_argument(
        "--force",
        action="store_true",
        help=f"save even below {MIN_ACCURACY:.0%}% held-out accuracy (an undertrained model)",  # %% for argparse
    )
    args = parser.parse_args(argv)

    if args.command == "list":
        for name in sorted(SHAPES_MODELS):
            architecture = SHAPES_MODELS[name]
            print(f"{name:10s} {architecture.description} (weights: {architecture.weights_file})")
        return

    architecture = shapes_architecture(args.model)
    if args.out is None and not args.replace_shipped:
        parser.error(
            "give --out FILE for the weights, or --replace-shipped to save over the package's own "
            f"{architecture.weights_path.name}"
        )
    out = args.out if args.out is not None else architecture.weights_path
    if args.out is not None and out.resolve() == architecture.weights_path.resolve() and not args.replace_shipped:
        parser.error(f"--out {out} is the package's shipped weights file; add --replace-shipped to replace it")
    start = time.perf_counter()
    model = train_shapes_model(
        n_train=args.n_train, epochs=args.epochs, seed=args.seed, model=args.model, batch_size=BATCH_SIZE
    )
    seconds = time.perf_counter() - start
    held_out = accuracy(model, make_shapes(args.n_test, seed=args.seed + 10_000))
    if held_out < MIN_ACCURACY and not args.force:
        raise SystemExit(
            f"error: {args.model} reached only {held_out:.1%} on {args.n_test} held-out images (below "
            f"{MIN_ACCURACY:.0%}): not saved. Train longer (--epochs, --n-train), or --force to save it."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    torch.save(model.state_dict(), partial)
    partial.replace(out)  # a complete file or none, also if interrupted
    print(
        f"{args.model}: trained in {seconds:.0f} s on {torch.get_num_threads()} threads; accuracy on {args.n_test} "
        f"held-out images {held_out:.1%}; saved {out} ({out.stat().st_size / 1024:.0f} KiB)"
    )


if __name__ == "__main__":
    main()

"""Command line: ``python -m cam_utils.synthetic train --model NAME`` (and ``list``).

``train`` trains a registered architecture with its recipe (see ``registry.py``), prints the time,
the accuracy on held-out images and the file size, and saves the state_dict (by default where the
package's weights ship, ``cam_utils/data/shapes_NAME.pt``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

import torch

from .data import make_shapes
from .registry import SHAPES_MODELS, shapes_architecture
from .training import accuracy, train_shapes_model


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; see ``python -m cam_utils.synthetic --help``."""
    parser = argparse.ArgumentParser(prog="python -m cam_utils.synthetic", description="Train the synthetic-shapes networks.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the registered architectures")
    train = commands.add_parser("train", help="train one architecture and save its state_dict")
    train.add_argument("--model", default="gapnet", choices=sorted(SHAPES_MODELS), help="architecture (default gapnet)")
    train.add_argument("--out", type=Path, default=None, help="where to save the weights (default: the shipped file)")
    train.add_argument("--n-train", type=int, default=None, help="training images (default: the recipe's)")
    train.add_argument("--epochs", type=int, default=None, help="passes over the data (default: the recipe's)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--n-test", type=int, default=1000, help="held-out images for the accuracy report")
    args = parser.parse_args(argv)

    if args.command == "list":
        for name in sorted(SHAPES_MODELS):
            architecture = SHAPES_MODELS[name]
            print(f"{name:10s} {architecture.description} (weights: {architecture.weights_file})")
        return

    architecture = shapes_architecture(args.model)
    out = args.out if args.out is not None else architecture.weights_path
    start = time.perf_counter()
    model = train_shapes_model(n_train=args.n_train, epochs=args.epochs, seed=args.seed, model=args.model)
    seconds = time.perf_counter() - start
    held_out = accuracy(model, make_shapes(args.n_test, seed=args.seed + 10_000))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    print(
        f"{args.model}: trained in {seconds:.0f} s on {torch.get_num_threads()} threads; accuracy on {args.n_test} "
        f"held-out images {held_out:.1%}; saved {out} ({out.stat().st_size / 1024:.0f} KiB)"
    )


if __name__ == "__main__":
    main()

"""Command line: ``python -m cam_utils.synthetic train --out cam_utils/data/shapes_gapnet.pt``."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

import torch

from .data import make_shapes
from .training import WEIGHTS_PATH, accuracy, train_shapes_model


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; see ``python -m cam_utils.synthetic --help``."""
    parser = argparse.ArgumentParser(prog="python -m cam_utils.synthetic", description="Train the synthetic-shapes network.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train ShapesGapNet and save its state_dict")
    train.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="where to save the weights")
    train.add_argument("--n-train", type=int, default=6000)
    train.add_argument("--epochs", type=int, default=8)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--n-test", type=int, default=1000, help="held-out images for the accuracy report")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model = train_shapes_model(n_train=args.n_train, epochs=args.epochs, seed=args.seed)
    seconds = time.perf_counter() - start
    held_out = accuracy(model, make_shapes(args.n_test, seed=args.seed + 10_000))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"trained in {seconds:.0f} s; accuracy on {args.n_test} held-out images {held_out:.1%}; saved {args.out}")


if __name__ == "__main__":
    main()

"""A localisation benchmark with exact ground truth, made entirely offline.

Real photos have no per-pixel answer to "where is the object?", so we draw our own. One file each:

1. ``data.py``: :func:`make_shapes` draws one *class object* (circle, square, triangle, cross or
   ring) per 64x64 RGB image, on a cluttered background with distractors, and returns its exact
   mask.
2. ``gapnet.py``: :class:`ShapesGapNet`, a small CNN whose last conv feature map (8x8) is followed
   by global average pooling and a single ``nn.Linear``: exactly the architecture CAM needs.
3. ``mlpnet.py``: :class:`ShapesMLPNet`, the same kind of conv layers with a head CAM cannot read
   (flatten + a hidden linear layer): the case Grad-CAM exists for.
4. ``registry.py``: the architectures by name (class, weights file, layers, training recipe);
   a new network is one more :func:`register_shapes_model` entry, which is also
   ``cam_utils.load_model("shapes_NAME")`` (the package's entry point registers them there).
5. ``training.py``: :func:`train_shapes_model` trains a registered architecture deterministically
   on the CPU; :func:`load_shapes_model` loads the weights that ship with the package.
6. ``benchmark.py``: :func:`localisation_benchmark` scores explanation methods (pointing game,
   energy share, IoU of the thresholded map) against the masks, next to a centre and a random
   baseline.
7. ``__main__.py``: ``python -m cam_utils.course.shapes train --model NAME --out FILE`` trains and saves weights
   (``--replace-shipped`` to write the shipped ones)
   (``list`` shows the names).
"""

from __future__ import annotations

from .benchmark import (
    BenchmarkRow,
    ExplainFn,
    centre_baseline,
    format_benchmark_table,
    localisation_benchmark,
    plot_benchmark,
    random_baseline,
)
from .data import (
    CLASS_NAMES,
    IMAGE_SIZE,
    SHAPES_MEAN,
    SHAPES_STD,
    ShapesData,
    denormalize_shapes,
    make_shapes,
    shape_samples,
)
from .gapnet import ShapesGapNet
from .mlpnet import ShapesMLPNet
from .registry import SHAPES_MODELS, ShapesArchitecture, register_shapes_model, shapes_architecture
from .training import WEIGHTS_PATH, accuracy, load_shapes_model, train_shapes_model

__all__ = [
    "BenchmarkRow",
    "CLASS_NAMES",
    "ExplainFn",
    "IMAGE_SIZE",
    "SHAPES_MEAN",
    "SHAPES_MODELS",
    "SHAPES_STD",
    "ShapesArchitecture",
    "ShapesData",
    "ShapesGapNet",
    "ShapesMLPNet",
    "WEIGHTS_PATH",
    "accuracy",
    "centre_baseline",
    "denormalize_shapes",
    "format_benchmark_table",
    "load_shapes_model",
    "localisation_benchmark",
    "make_shapes",
    "plot_benchmark",
    "random_baseline",
    "shape_samples",
    "register_shapes_model",
    "shapes_architecture",
    "train_shapes_model",
]

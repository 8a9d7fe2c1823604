"""Sanity check for saliency maps: model randomisation (Adebayo et al., NeurIPS 2018).

If a map explains the *model*, it must change when the model's learned weights are destroyed.
Starting at the classifier and going down towards the input, we re-initialise one more stage
of a copy of the model at each step, recompute the map for the same images and the same
classes, and measure how similar it still is to the original map. A method that passes
(Grad-CAM does) gives maps that stop resembling the original; a method that fails (Guided
Backprop, in the paper) keeps producing the same picture, whatever the weights: it is then
closer to an edge detector than to an explanation.

One file each:

1. ``similarity.py``: the paper's four measures, Spearman's rank correlation with and without
   absolute values (:func:`spearman_correlation`), SSIM (:func:`map_ssim`) and the Pearson
   correlation of HOG features (:func:`hog_correlation`).
2. ``randomization.py``: re-initialising layers so that the activations stay alive
   (:func:`randomize_parameters`, Kaiming scale; :func:`reestimate_batchnorm`) and measuring it
   (:func:`feature_scale`).
3. ``cascade.py``: the test, :func:`cascading_randomization` (cascading or independent).
4. ``report.py``: several runs (seeds) together, :func:`collect` and :func:`format_sanity_table`.

The user's model is never touched: all randomisation happens in a ``copy.deepcopy``.
"""

from __future__ import annotations

from .cascade import (
    SCALE_RANGE,
    ExplainFn,
    RandomizeFn,
    SanityStage,
    cascading_randomization,
    default_randomization_stages,
)
from .randomization import (
    batchnorm_layers,
    estimating_batchnorm,
    feature_scale,
    randomize_parameters,
    reestimate_batchnorm,
)
from .report import collect, format_sanity_table
from .similarity import (
    average_ranks,
    centred_ranks,
    correlation_of_ranks,
    hog_correlation,
    map_ssim,
    spearman_correlation,
)

__all__ = [
    "ExplainFn",
    "RandomizeFn",
    "SCALE_RANGE",
    "SanityStage",
    "average_ranks",
    "batchnorm_layers",
    "cascading_randomization",
    "centred_ranks",
    "collect",
    "correlation_of_ranks",
    "default_randomization_stages",
    "estimating_batchnorm",
    "feature_scale",
    "format_sanity_table",
    "hog_correlation",
    "map_ssim",
    "randomize_parameters",
    "reestimate_batchnorm",
    "spearman_correlation",
]

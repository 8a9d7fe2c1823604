"""Can we trust the heatmap? Metrics for saliency maps.

Two families, one module each:

* **Localisation** (:mod:`.localisation`, needs a ground-truth mask of the object):
  :func:`pointing_game`, :func:`energy_share`, :func:`mask_iou`. Pure tensor functions, no model.
* **Faithfulness** (:mod:`.faithfulness`, needs the model, no mask): does the model's score
  really depend on the pixels the map points at? :func:`deletion_curve` / :func:`insertion_curve`
  (RISE, Petsiuk et al., BMVC 2018) and :func:`average_drop_increase` (Grad-CAM++, Chattopadhay
  et al., WACV 2018).

Saliency maps are (N, h, w) tensors at any resolution (e.g. 7x7 Grad-CAM maps); each function
upsamples them bilinearly to the size it needs. The model is left untouched: its weights, its
train/eval flags and the global grad mode are the same afterwards, also when an error is raised.
"""

from __future__ import annotations

from .faithfulness import ConfidenceChange, Curve, average_drop_increase, deletion_curve, insertion_curve
from .localisation import energy_share, mask_iou, pointing_game

__all__ = [
    "ConfidenceChange",
    "Curve",
    "average_drop_increase",
    "deletion_curve",
    "energy_share",
    "insertion_curve",
    "mask_iou",
    "pointing_game",
]

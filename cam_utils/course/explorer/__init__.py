"""An interactive explorer: pick a photo, a class, a method and a layer, and see where the network looks.

``explore()`` returns one ipywidgets widget. It is stock ipywidgets 8 (no custom front-end
code), so it works in JupyterLab 4, Notebook 7, Voilà, VS Code and Colab.

How it stays responsive (every control answers within 100 ms of kernel time on an idle
2-core CPU; ``benchmarks/bench_widgets.py`` measures it):

* **One forward pass per (image, layer).** ``forward_with_features`` splits the forward at
  the chosen layer and keeps the graph from the feature maps A to the class scores y. The
  result is cached per layer; a new image clears the cache.
* **A new class costs one backward pass**, not a forward: ``grad_cam_from_forward`` on the
  cached forward. CAM needs no gradient at all: M_c = Σ_k w_k^c A^k on the cached A.
* **Raw maps are cached per (layer, method, class).** Opacity, colormap and interpolation
  only redo the cheap last steps: normalize → upsample → overlay → PNG bytes.
* The picture is an ``ipywidgets.Image`` holding PNG bytes made with PIL; no matplotlib
  figure is redrawn.
* **A slow map runs in the background.** Score-CAM (a forward pass per channel: 1,280 at Lite0's ``bn2``)
  is computed in a worker thread with a progress bar ("channels done, time left") and a Cancel
  button; every other control answers meanwhile, and a newer request or Cancel discards the run.

The modules:

* :mod:`~cam_utils.course.explorer.methods`: the method menu :data:`METHODS`, the library's one method
  table (:mod:`cam_utils.methods`) by label; ``METHODS["My CAM"] = Method(my_cam)`` adds one;
* :mod:`~cam_utils.course.explorer.explorer`: the :class:`Explorer` widget and :func:`explore`;
* :mod:`~cam_utils.course.explorer.controls`: the controls, made with their labels and options;
* :mod:`~cam_utils.course.explorer.caches`: the forward passes and raw maps kept per image;
* :mod:`~cam_utils.course.explorer.inputs`: the photo's sizes, the layers' map shapes, PNG bytes;
* :mod:`~cam_utils.course.explorer.rendering`: the heatmap on the picture, the readout and status lines;
* :mod:`~cam_utils.course.explorer.colorbar`: the colour bar, what the colours mean;
* :mod:`~cam_utils.course.explorer.slowmaps` and :mod:`~cam_utils.course.explorer.background`: a slow map
  in a worker thread, its progress panel and Cancel;
* :mod:`~cam_utils.course.explorer.page`: where the parts go (a page that fills the window, presenter mode);
* :mod:`~cam_utils.course.explorer.appearance`: control sizes that survive a narrow window, the style
  sheet, and the still picture shown where no widget can run.
"""

from __future__ import annotations

from cam_utils.models import (
    model_view,  # its home is cam_utils.models; kept here for code written for 0.1.0
)

from .explorer import COLORMAPS, INTERPOLATIONS, Explorer, explore
from .methods import METHODS, MapRequest, Method

__all__ = ["COLORMAPS", "INTERPOLATIONS", "METHODS", "Explorer", "MapRequest", "Method", "explore", "model_view"]

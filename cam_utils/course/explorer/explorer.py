"""The explorer widget: photo, class, method, layer and display settings on one panel.

This file holds the widget's controls and what each of them does; the caches are :mod:`.caches`', the
drawing :mod:`.rendering`'s, the colour bar :mod:`.colorbar`'s, where the parts go :mod:`.page`'s and slow
maps :mod:`.background`'s. See the package docstring (:mod:`cam_utils.course.explorer`) for how it stays
responsive.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import torch
from PIL import Image

from cam_utils.class_names import ClassNameError, find_class
from cam_utils.images import ImageLoadError, load_image, sample_image, sample_image_names
from cam_utils.models import LoadedModel, load_model, model_view

from . import appearance, page, rendering
from .background import MapJob, ProgressPanel
from .caches import MapCache, MapKey
from .colorbar import ColourBar
from .controls import COLORMAPS, INTERPOLATIONS, Controls
from .inputs import display_size, downscaled, layer_shapes, png_bytes
from .methods import METHODS
from .slowmaps import SlowMaps

__all__ = ["COLORMAPS", "INTERPOLATIONS", "Explorer", "explore"]

#: How many of the most probable classes the class drop-down lists.
TOP_CLASSES = 10


# --- the explorer -----------------------------------------------------------------------------


class Explorer(SlowMaps, widgets.VBox):
    """The explorer widget. Display it, or use its controls from code (the tests do).

    Controls: ``image_picker``, ``upload``, ``class_select``, ``class_search``, ``method``,
    ``layer``, ``opacity``, ``cmap``, ``interpolation``, ``presenter`` (large labels). Output: ``picture``
    (an ``ipywidgets.Image`` with PNG bytes), ``colour_bar`` (what its colours mean), ``readout`` and
    ``status`` (HTML lines). ``image`` is the current photo, ``shown_image`` the picture the model sees
    (its crop), under the heatmap. ``controls`` holds the controls, laid out by :mod:`.page`.

    A slow method (Score-CAM) is computed in a worker thread (:mod:`.background`): ``progress`` shows
    its bar and Cancel button (``progress.cancel_button``, or :meth:`cancel`); :meth:`wait` waits for it.
    """

    def __init__(self, net: LoadedModel, image: Image.Image | str | None = None, presenter: bool = False) -> None:
        super().__init__()
        self.net = net
        # The pictures the model is meant for: the shapes models bring their own, the others use the photos.
        self._samples: dict[str, Image.Image] | None = net.samples() if net.samples is not None else None
        sample_names = list(self._samples) if self._samples is not None else sample_image_names()
        if image is None:
            image = sample_names[0] if self._samples is not None else "cat"
        self._device = next(net.model.parameters()).device
        self._images: dict[str, Image.Image] = {}  # picker value -> photo (at most MAX_IMAGE_SIDE)
        self._cache = MapCache(net)  # the current image's forwards per layer and raw maps
        self._probabilities = torch.empty(0)  # (num_classes,) softmax of the current image's logits
        self._quiet = False  # True while several controls change together: render once, at the end
        # The worker thread of a slow map hands its result over under this lock; every render holds it.
        self._lock = threading.RLock()
        self._job: MapJob | None = None  # the slow map being computed, if any
        self._last_shown_method = "Grad-CAM"  # the method of the last map drawn (Cancel goes back to it)

        # Image: the bundled photos, plus the user's uploads.
        if isinstance(image, str):
            if image not in sample_names:
                raise ValueError(
                    f"Unknown sample image {image!r}. Pass one of {', '.join(sample_names)}, "
                    "or a PIL image (e.g. cam_utils.load_image(path))."
                )
            first_image_name = image
        elif isinstance(image, Image.Image):
            first_image_name = "your image"
            self._images[first_image_name] = downscaled(image)
        else:
            raise TypeError(
                f"image must be a sample name or a PIL image, got {type(image).__name__}. "
                "Load a file with cam_utils.load_image(path)."
            )
        self._class_labels = [f"{index} {name}" for index, name in enumerate(net.categories)]
        picker_names = [*self._images, *sample_names]  # the user's picture (if any), then the samples
        first_x = net.preprocess(self._image(first_image_name)).to(self._device)  # (1, 3, H, W)
        self._map_shapes = layer_shapes(net, first_x)  # layer -> (C, h, w); the input size is fixed
        # CAM (a feature-layer-only method) needs a GAP head: other networks do not offer it.
        offered = [name for name, method in METHODS.items() if net.gap_head or not method.needs_gap_head]
        made = Controls.make(
            picker_names,
            first_image_name,
            self._class_labels,
            offered,
            self._map_shapes,
            net.feature_layer_name,
        )
        self.image_picker, self.upload = made.image_picker, made.upload
        self.class_select, self.class_search = made.class_select, made.class_search
        self.method, self.layer = made.method, made.layer
        self.opacity, self.cmap, self.interpolation = made.opacity, made.cmap, made.interpolation
        self.presenter = made.presenter
        self.picture = widgets.Image(format="png")  # its size on screen: the page's style sheet
        self.colour_bar = ColourBar()
        self.readout = widgets.HTML()
        self.status = widgets.HTML()
        self.progress = ProgressPanel()  # a slow map's bar, "channels done, time left", and Cancel
        self.progress.cancel_button.on_click(lambda _button: self.cancel())

        # Class names that the browser test and a user's CSS can find.
        for control, css_class in [
            (self, appearance.EXPLORER_CLASS),
            (self.picture, "cam-explorer-picture"),
            (self.readout, "cam-explorer-readout"),
            (self.status, "cam-explorer-status"),
            (self.opacity, "cam-explorer-opacity"),
            (self.layer, "cam-explorer-layer"),
            (self.class_select, "cam-explorer-class"),
            (self.method, "cam-explorer-method"),
            (self.upload, "cam-explorer-upload"),
        ]:
            control.add_class(css_class)

        self.controls = widgets.VBox(
            [
                appearance.row(self.image_picker, self.upload),
                appearance.row(self.class_select, self.class_search),
                self.method,
                self.layer,
                appearance.row(self.opacity, self.cmap, self.interpolation),
                appearance.row(self.presenter),
            ]
        )
        side = page.side(self.readout, self.status, self.progress, self.controls)
        self.children = [page.style_sheet(), page.body(page.view(self.picture, self.colour_bar), side)]

        self._load_current_image()
        self.image_picker.observe(self._on_image_change, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.class_search.observe(self._on_class_search, names="value")
        for control in (self.class_select, self.method, self.layer, self.opacity, self.cmap, self.interpolation):
            control.observe(self._on_setting_change, names="value")
        self.presenter.observe(self._on_presenter, names="value")
        self.presenter.value = presenter

    # --- state -----------------------------------------------------------------------------

    @property
    def image(self) -> Image.Image:
        """The current photo (after shrinking to at most MAX_IMAGE_SIDE pixels)."""
        return self._image(self.image_picker.value)

    @property
    def shown_image(self) -> Image.Image:
        """The picture the model sees (its input, un-normalised), under the heatmap.

        Pictures smaller than MIN_PICTURE_SIDE (the 64 x 64 shapes) are shown enlarged, each pixel a
        square of a whole number of screen pixels.
        """
        return self._shown_image

    @property
    def summary(self) -> str:
        """One sentence saying what the picture shows (the text fallback of the widget)."""
        class_idx = self.class_select.value
        return (
            f"CAM explorer: {self.method.value} at layer {self.layer.value} for class "
            f"{self._class_labels[class_idx]} (p = {float(self._probabilities[class_idx]):.3f}) "
            f"on the picture {self.image_picker.value!r}."
        )

    def __repr__(self) -> str:
        return (
            f"Explorer(image={self.image_picker.value!r}, class_idx={self.class_select.value}, "
            f"method={self.method.value!r}, layer={self.layer.value!r})"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget, plus fallbacks for where it cannot run.

        A front-end with a widget manager (JupyterLab, Notebook 7, Voilà, VS Code) shows the widget;
        a saved notebook seen without a kernel (an untrusted notebook in JupyterLab, GitHub, the
        course website) shows the still picture (``text/html``) or the summary (``text/plain``)
        instead of ipywidgets' default ``Explorer(children=(VBox(...``.
        """
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = f"{self.summary}\n(An interactive widget: run this notebook to use the explorer.)"
        picture = Image.open(io.BytesIO(self.picture.value))
        bundle["text/html"] = appearance.still_html(picture, self.summary)
        return bundle

    def _image(self, name: str) -> Image.Image:
        if name not in self._images:
            sample = self._samples[name] if self._samples is not None else sample_image(name)
            self._images[name] = downscaled(sample)
        return self._images[name]

    @contextmanager
    def _changing_together(self) -> Iterator[None]:
        """Change several controls without rendering after each; the caller renders once."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _class_option(self, class_idx: int) -> tuple[str, int]:
        probability = float(self._probabilities[class_idx])
        return f"{self._class_labels[class_idx]} — {probability:.3f}", class_idx

    # --- events ----------------------------------------------------------------------------

    def _load_current_image(self) -> None:
        """New image: clear the caches, one forward pass at the current layer, new top-10, render."""
        with self._lock:  # a slow map's worker may be handing its result over
            x = self.net.preprocess(self.image).to(self._device)  # (1, 3, H, W)
            self._shown_image = display_size(model_view(self.net, x))
            self._cache.use(x)
            logits = self._cache.forward(self.layer.value).logits.detach()[0]  # (num_classes,)
            self._probabilities = torch.softmax(logits, dim=0)
            top_classes = self._probabilities.topk(min(TOP_CLASSES, len(self._probabilities))).indices.tolist()
            with self._changing_together():
                self.class_select.options = [self._class_option(index) for index in top_classes]
                self.class_select.value = top_classes[0]
                self.class_search.value = ""  # the search text belonged to the previous photo
            self._render()

    def _on_image_change(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self._load_current_image()

    def _on_setting_change(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self._render()

    def _on_presenter(self, change: dict[str, Any]) -> None:
        """Presenter mode: the page's style sheet makes every label larger under this class."""
        (self.add_class if change["new"] else self.remove_class)(page.PRESENTER_CLASS)

    def _on_upload(self, change: dict[str, Any]) -> None:
        """Load an uploaded file; a bad file only shows a message, the explorer keeps its image."""
        if not change["new"]:
            return  # the upload was cleared (by us, below)
        uploaded = change["new"][0]
        try:
            image = load_image(bytes(uploaded["content"]))
        except ImageLoadError as error:
            self.status.value = rendering.status_html(f"Could not use {uploaded['name']!r}: {error}", is_error=True)
        else:
            name = f"upload: {uploaded['name']}"
            self._images[name] = downscaled(image)  # replaces an earlier upload of the same name
            with self._changing_together():
                if name not in self.image_picker.options:
                    self.image_picker.options = [name, *self.image_picker.options]
                self.image_picker.value = name
            self._load_current_image()
        finally:
            self.upload.value = ()  # ready for the next file, also the same one again

    def _on_class_search(self, change: dict[str, Any]) -> None:
        """Select the class named in the search box ("281 tabby cat" or "tabby cat"), by the rule of
        ``cam_utils.class_names.find_class`` (the command line's): whole names only, since the user is typing."""
        try:
            class_idx = find_class(change["new"], self.net.categories, partial=False)
        except ClassNameError:
            return  # still typing
        with self._changing_together():
            if class_idx not in [value for _, value in self.class_select.options]:
                self.class_select.options = [*self.class_select.options, self._class_option(class_idx)]
            self.class_select.value = class_idx
        self._render()

    # --- rendering -------------------------------------------------------------------------

    def _render(self) -> None:
        """Draw the picture for the current settings and update the colour bar, readout and status lines.

        A slow map not yet cached (Score-CAM) is started in the background instead; meanwhile the picture
        shows the photo alone and the status line says what is being computed."""
        with self._lock:
            self._cache.drop_if_weights_changed()
            key: MapKey = (self.layer.value, self.method.value, self.class_select.value)
            layer, method_name, _ = key
            method = METHODS[method_name]
            channels = self._map_shapes[layer][0]
            cam_elsewhere = method.needs_gap_head and layer != self.net.feature_layer_name
            pending = method.slow and not cam_elsewhere and key not in self._cache
            if self._job is not None and (not pending or self._job.key != key or self._job.x is not self._cache.x):
                self._stop_job()  # a newer request: the running job's map is no longer wanted
            if pending:
                if self._job is None:
                    self._start_job(key)
                self._draw(self._shown_image, computing=True)
                note = rendering.computing_note(method_name, layer, channels)
            elif cam_elsewhere:
                self._draw(self._shown_image)
                note = rendering.cam_elsewhere_note(method_name, self.net.feature_layer_name)
                self._last_shown_method = method_name
            else:
                raw_map, warning = self._cache.raw_map(key)  # (h, w), "" or the library's warning
                picture = rendering.heatmap_picture(
                    self._shown_image, raw_map, self.interpolation.value, self.opacity.value, self.cmap.value
                )
                self._draw(picture, raw_map)
                note = rendering.map_note(raw_map, warning, method_name, method.slow, channels)
                self._last_shown_method = method_name
            self.status.value = rendering.status_html(note)

    def _draw(self, picture: Image.Image, raw_map: torch.Tensor | None = None, computing: bool = False) -> None:
        """Show ``picture``, the colour bar of ``raw_map`` (hidden without a map) and the readout line naming
        the current class, method and layer (``computing``: the map is on its way; no ``raw_map`` otherwise: there
        is none here)."""
        layer, method_name, class_idx = self.layer.value, self.method.value, self.class_select.value
        self.picture.value = png_bytes(picture)
        if raw_map is None:
            self.colour_bar.hide()
        else:
            self.colour_bar.show(
                raw_map, self.cmap.value, method_name, against=METHODS[method_name].name == "counterfactual"
            )
        shown = f"{self._shown_image.width}×{self._shown_image.height} ({self.interpolation.value})"
        self.readout.value = rendering.readout_html(
            self._class_labels[class_idx],
            float(self._probabilities[class_idx]),
            method_name,
            layer,
            self._map_shapes[layer][1:],
            None if computing else "" if raw_map is None else shown,
        )


def explore(
    net: LoadedModel | None = None, image: Image.Image | str | None = None, presenter: bool = False
) -> Explorer:
    """The interactive CAM / Grad-CAM explorer, one widget to display in a notebook.

    Args:
        net: a model from ``load_model``; default: ``load_model()`` (EfficientNet-Lite0, offline).
            ``load_model("shapes_vit")`` (or ``"shapes_gapnet"``, ``"shapes_mlpnet"``) explores a
            network trained on the synthetic shapes: its picture menu offers one shape per class,
            its layer menu its stages (for the ViT, its blocks, tokens laid out on their grid), and
            CAM is offered only where the network has a GAP head.
        image: a sample name (see ``sample_image_names()``, or the model's own samples) or a PIL
            image; default ``"cat"`` (for the shapes models: their first sample). Images are shrunk
            to at most 1024 px on the longer side.
        presenter: start in presenter mode (large labels, for a projector); the explorer's
            "Presenter mode" button switches it on and off.

    Returns:
        an :class:`Explorer` (an ``ipywidgets.VBox``); its controls are attributes.
    """
    if net is None:
        net = load_model()
    elif not isinstance(net, LoadedModel):
        raise TypeError(
            f"net must be a LoadedModel, got {type(net).__name__}. Wrap your model with "
            "cam_utils.load_model(name), or leave net out for the default model."
        )
    return Explorer(net, image, presenter)

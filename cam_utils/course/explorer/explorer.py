"""The explorer widget: photo, class, method, layer and display settings on one panel.

See the package docstring (:mod:`cam_utils.course.explorer`) for how it stays responsive.
"""

from __future__ import annotations

import html
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import torch
from PIL import Image

from cam_utils._warnings import library_warnings
from cam_utils.class_names import ClassNameError, find_class
from cam_utils.hooks import LayerForward, forward_with_features
from cam_utils.images import ImageLoadError, load_image, sample_image, sample_image_names
from cam_utils.models import LoadedModel, load_model, model_view
from cam_utils.postprocess import normalize, overlay, upsample

from . import appearance
from .background import MapJob, ProgressPanel
from .inputs import display_size, downscaled, layer_shapes, png_bytes
from .methods import METHODS, MapRequest, compute_map

__all__ = ["COLORMAPS", "INTERPOLATIONS", "Explorer", "explore"]

#: How many of the most probable classes the class drop-down lists.
TOP_CLASSES = 10
COLORMAPS = ["jet", "turbo", "viridis", "inferno", "magma", "plasma"]
#: (label, mode passed to ``upsample``): nearest shows the raw grid of the map, bilinear is smooth.
INTERPOLATIONS = [("nearest (raw grid)", "nearest"), ("bilinear (smooth)", "bilinear")]


# --- the explorer -----------------------------------------------------------------------------


class Explorer(widgets.VBox):
    """The explorer widget. Display it, or use its controls from code (the tests do).

    Controls: ``image_picker``, ``upload``, ``class_select``, ``class_search``, ``method``,
    ``layer``, ``opacity``, ``cmap``, ``interpolation``. Output: ``picture`` (an
    ``ipywidgets.Image`` with PNG bytes), ``readout`` and ``status`` (HTML lines).
    ``image`` is the current photo, ``shown_image`` the picture the model sees (its crop), under
    the heatmap.

    A slow method (Score-CAM) is computed in a worker thread (:mod:`.background`): ``progress`` shows
    its bar and Cancel button (``progress.cancel_button``, or :meth:`cancel`); :meth:`wait` waits for it.
    """

    def __init__(self, net: LoadedModel, image: Image.Image | str | None = None) -> None:
        super().__init__()
        self.net = net
        # The pictures the model is meant for: the shapes models bring their own, the others use the photos.
        self._samples: dict[str, Image.Image] | None = net.samples() if net.samples is not None else None
        sample_names = list(self._samples) if self._samples is not None else sample_image_names()
        if image is None:
            image = sample_names[0] if self._samples is not None else "cat"
        self._device = next(net.model.parameters()).device
        self._images: dict[str, Image.Image] = {}  # picker value -> photo (at most MAX_IMAGE_SIDE)
        self._forwards: dict[str, LayerForward] = {}  # layer -> forward split there (current image)
        self._raw_maps: dict[
            tuple[str, str, int], tuple[torch.Tensor, str]
        ] = {}  # (layer, method, class) -> (h, w) map, warning
        self._cached_for_version: tuple[int, ...] = ()  # the weights' versions the caches belong to
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
        picker_names = list(self._images) + sample_names
        self.image_picker = widgets.Dropdown(
            options=picker_names, value=first_image_name, description="Image", layout=appearance.layout("image_picker")
        )
        self.upload = widgets.FileUpload(
            accept="image/*", multiple=False, description=appearance.UPLOAD_LABEL, layout=widgets.Layout(width="auto")
        )

        # Class: the top-10 of the current image, plus a search over all classes.
        self.class_select = widgets.Dropdown(description="Class", layout=appearance.layout("class_select"))
        self._class_labels = [f"{index} {name}" for index, name in enumerate(net.categories)]
        self.class_search = widgets.Combobox(
            options=self._class_labels,
            placeholder="type to search all classes",
            description="Any class",
            ensure_option=False,
            layout=appearance.layout("class_search"),
        )

        # Method, and layer: each layer's option shows the resolution of its maps.
        # CAM (a feature-layer-only method) needs a GAP head: other networks do not offer it.
        offered = [name for name, method in METHODS.items() if net.gap_head or not method.needs_gap_head]
        self.method = widgets.ToggleButtons(
            options=offered, value="Grad-CAM", description="Method", style={"button_width": "auto"}
        )
        first_x = net.preprocess(self._image(first_image_name)).to(self._device)  # (1, 3, H, W)
        self._map_shapes = layer_shapes(net, first_x)  # layer -> (C, h, w); the input size is fixed
        self.layer = widgets.SelectionSlider(
            options=[(f"{name} ({h}×{w})", name) for name, (_, h, w) in self._map_shapes.items()],
            value=net.feature_layer_name,
            description="Layer",
            continuous_update=False,  # a new layer costs a forward pass: compute when released
            layout=appearance.layout("layer"),
        )

        # Display.
        self.opacity = widgets.FloatSlider(
            value=0.5,
            min=0.0,
            max=1.0,
            step=0.05,
            description="Opacity",
            readout_format=".2f",
            layout=appearance.layout("opacity"),
        )
        self.cmap = widgets.Dropdown(
            options=COLORMAPS, value="jet", description="Colormap", layout=appearance.layout("cmap")
        )
        self.interpolation = widgets.Dropdown(
            options=INTERPOLATIONS,
            value="bilinear",
            description="Upsampling",
            layout=appearance.layout("interpolation"),
        )
        self.picture = widgets.Image(format="png", layout=widgets.Layout(width=appearance.PICTURE_WIDTH))
        self.readout = widgets.HTML()
        self.status = widgets.HTML()
        self.progress = ProgressPanel()  # a slow map's bar, "channels done, time left", and Cancel
        self.progress.cancel_button.on_click(lambda _button: self.cancel())

        # Class names that the browser test and a user's CSS can find.
        for control, css_class in [
            (self, appearance.EXPLORER_CLASS),
            (self.picture, "cam-explorer-picture"),
            (self.opacity, "cam-explorer-opacity"),
            (self.layer, "cam-explorer-layer"),
            (self.class_select, "cam-explorer-class"),
            (self.method, "cam-explorer-method"),
            (self.upload, "cam-explorer-upload"),
        ]:
            control.add_class(css_class)

        controls = widgets.VBox(
            [
                appearance.row(self.image_picker, self.upload),
                appearance.row(self.class_select, self.class_search),
                self.method,
                self.layer,
                appearance.row(self.opacity, self.cmap, self.interpolation),
            ]
        )
        self.children = [appearance.style_sheet(), controls, self.progress, self.picture, self.readout, self.status]

        self._load_current_image()
        self.image_picker.observe(self._on_image_change, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.class_search.observe(self._on_class_search, names="value")
        for control in (self.class_select, self.method, self.layer, self.opacity, self.cmap, self.interpolation):
            control.observe(self._on_setting_change, names="value")

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

    def _weights_version(self) -> tuple[int, ...]:
        """PyTorch counts the in-place changes of every tensor (``_version``): an optimizer step or a
        ``load_state_dict`` on the model changes this tuple, so cached forwards and maps are stale."""
        model = self.net.model
        return tuple(tensor._version for tensor in (*model.parameters(), *model.buffers()))

    def _drop_caches_if_weights_changed(self) -> None:
        version = self._weights_version()
        if version != self._cached_for_version:
            self._forwards.clear()
            self._raw_maps.clear()
            self._cached_for_version = version

    def _forward(self, layer: str) -> LayerForward:
        """The forward pass split at ``layer`` for the current image (computed once, then cached for
        as long as the model's weights stay the same)."""
        self._drop_caches_if_weights_changed()
        if layer not in self._forwards:
            self._forwards[layer] = forward_with_features(self.net.model, self._x, layer, reshape=self.net.reshape)
        return self._forwards[layer]

    def _raw_map(self, layer: str, method_name: str, class_idx: int) -> tuple[torch.Tensor, str]:
        """The method's map (h, w) before normalisation, and the library's warning about it if any
        (e.g. HiResCAM cancelling at a ViT block's output); computed once, then cached."""
        self._drop_caches_if_weights_changed()
        key = (layer, method_name, class_idx)
        if key not in self._raw_maps:
            request = MapRequest(self.net, self._x, layer, self._forward(layer), class_idx)
            with library_warnings() as messages:
                raw_map = compute_map(METHODS[method_name], request)[0].detach()  # (h, w)
            self._raw_maps[key] = (raw_map, " ".join(messages))
        return self._raw_maps[key]

    def _class_option(self, class_idx: int) -> tuple[str, int]:
        probability = float(self._probabilities[class_idx])
        return f"{self._class_labels[class_idx]} — {probability:.3f}", class_idx

    # --- events ----------------------------------------------------------------------------

    def _load_current_image(self) -> None:
        """New image: clear the caches, one forward pass at the current layer, new top-10, render."""
        with self._lock:  # a slow map's worker may be handing its result over
            self._load_image_locked()

    def _load_image_locked(self) -> None:
        self._x = self.net.preprocess(self.image).to(self._device)  # (1, 3, H, W)
        self._shown_image = display_size(model_view(self.net, self._x))
        self._forwards.clear()
        self._raw_maps.clear()
        logits = self._forward(self.layer.value).logits.detach()[0]  # (num_classes,)
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

    def _on_upload(self, change: dict[str, Any]) -> None:
        """Load an uploaded file; a bad file only shows a message, the explorer keeps its image."""
        if not change["new"]:
            return  # the upload was cleared (by us, below)
        uploaded = change["new"][0]
        try:
            image = load_image(bytes(uploaded["content"]))
        except ImageLoadError as error:
            self._show_status(f"Could not use {uploaded['name']!r}: {error}", is_error=True)
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

    def _show_status(self, message: str, is_error: bool = False) -> None:
        colour = "#b00020" if is_error else "#555555"
        self.status.value = f'<span style="color:{colour}">{html.escape(message)}</span>' if message else ""

    def _render(self) -> None:
        """Draw the picture for the current settings and update the readout and status lines.

        A slow map not yet cached (Score-CAM) is started in the background instead; meanwhile the picture
        shows the photo alone and the status line says what is being computed."""
        with self._lock:
            self._drop_caches_if_weights_changed()
            layer, method_name, class_idx = self.layer.value, self.method.value, self.class_select.value
            method = METHODS[method_name]
            cam_elsewhere = method.needs_gap_head and layer != self.net.feature_layer_name
            key = (layer, method_name, class_idx)
            pending = method.slow and not cam_elsewhere and key not in self._raw_maps
            if self._job is not None and (not pending or self._job.key != key or self._job.x is not self._x):
                self._stop_job()  # a newer request: the running job's map is no longer wanted
            if pending:
                if self._job is None:
                    self._start_job(key)
                self._draw(self._shown_image, computing=True)
                channels = self._map_shapes[layer][0]
                self._show_status(
                    f"Computing {method_name} at layer {layer}: up to {channels} forward passes (one per channel)…"
                )
            else:
                self._render_map(layer, method_name, class_idx, cam_elsewhere)
                self._last_shown_method = method_name

    def _render_map(self, layer: str, method_name: str, class_idx: int, cam_elsewhere: bool) -> None:
        channels = self._map_shapes[layer][0]
        note = ""
        if cam_elsewhere:
            # CAM's weights w_k^c belong to the channels of the feature layer only.
            picture = self._shown_image
            note = (
                f"{method_name} exists only at the feature layer {self.net.feature_layer_name}: its class "
                "weights act on that layer's channels. Move the layer slider to the last position, or pick Grad-CAM."
            )
        else:
            if METHODS[method_name].slow:
                note = (
                    f"{method_name} ran one forward pass per channel that is not constant (at most {channels} at "
                    "this layer); the map is cached."
                )
            raw_map, warning = self._raw_map(layer, method_name, class_idx)  # (h, w), "" or the library's warning
            if not bool(raw_map.ne(0).any()):
                note = "The map is zero everywhere: nothing at this layer pushes the score in this direction."
            elif warning:
                note = warning
            # Normalise the small map first (cheap); upsampling keeps values in [0, 1].
            heatmap = normalize(raw_map)  # (h, w) in [0, 1]
            image_size = (self._shown_image.height, self._shown_image.width)
            heatmap = upsample(heatmap, image_size, mode=self.interpolation.value)  # (H, W)
            picture = overlay(self._shown_image, heatmap, alpha=self.opacity.value, cmap=self.cmap.value)
        self._draw(picture)
        self._show_status(note)

    def _draw(self, picture: Image.Image, computing: bool = False) -> None:
        """Show ``picture`` and the readout line naming the current class, method and layer."""
        layer, method_name, class_idx = self.layer.value, self.method.value, self.class_select.value
        _, height, width = self._map_shapes[layer]
        self.picture.value = png_bytes(picture)
        probability = float(self._probabilities[class_idx])
        shown = f"shown at {self._shown_image.width}×{self._shown_image.height} ({self.interpolation.value})"
        self.readout.value = (
            f"<b>{html.escape(self._class_labels[class_idx])}</b> (p = {probability:.3f}) · "
            f"{html.escape(method_name)} at layer <code>{html.escape(layer)}</code> · "
            + ("computing…" if computing else f"map {height}×{width}, {shown}")
        )

    # --- slow maps in the background ---------------------------------------------------------

    @property
    def computing(self) -> bool:
        """True while a slow map (Score-CAM) is being computed in the background."""
        return self._job is not None

    def _start_job(self, key: tuple[str, str, int]) -> None:
        layer, method_name, class_idx = key
        request = MapRequest(self.net, self._x, layer, self._forward(layer), class_idx)
        method = METHODS[method_name]
        self._job = MapJob(
            key,
            self._x,
            lambda progress: compute_map(method, request, progress=progress)[0].detach(),  # (h, w)
            self.progress,
            self._job_done,
        )
        self._job.start()

    def _stop_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None
            self.progress.hide()

    def _job_done(self, job: MapJob) -> None:
        """From the worker thread: keep the map if it is still wanted, and draw it."""
        with self._lock:
            if job is not self._job or job.cancelled:
                return  # a newer request or Cancel came first
            self._job = None
            self.progress.hide()
            if job.error is not None:
                self._show_status(f"{job.key[1]} failed: {job.error}", is_error=True)
                return
            if job.x is self._x and job.result is not None:
                self._drop_caches_if_weights_changed()  # computed with other weights: recomputed by _render
                self._raw_maps[job.key] = (job.result, "")
            self._render()

    def cancel(self) -> None:
        """Stop the slow map being computed (the Cancel button) and go back to the method shown before it.

        Returns at once; the worker thread stops after its current batch and its work is discarded."""
        with self._lock:
            job = self._job
            if job is None:
                return
            self._stop_job()
            label = job.key[1]
            back = self._last_shown_method if self._last_shown_method in self.method.options else "Grad-CAM"
            if METHODS[back].slow and (self.layer.value, back, self.class_select.value) not in self._raw_maps:
                back = "Grad-CAM"  # a map that is ready, not another long wait
            with self._changing_together():
                self.method.value = back
            self._render()
            done = f" after {job.done} of {job.total} channels" if job.total else ""
            self._show_status(f"{label} stopped{done}. Showing {back}; pick {label} again to start over.")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the slow map being computed, if any, is drawn (or was stopped); True if none is left
        running after ``timeout`` seconds (None: no limit). For code and tests that drive the explorer."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (job := self._job) is not None:  # a finished job may start another (the weights changed)
            if not job.wait(None if deadline is None else max(0.0, deadline - time.monotonic())):
                return False
            if job is self._job:  # ended without handing over (stopped meanwhile)
                break
        return self._job is None


def explore(net: LoadedModel | None = None, image: Image.Image | str | None = None) -> Explorer:
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
    return Explorer(net, image)

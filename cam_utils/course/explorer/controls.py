"""The explorer's controls: the photo, the class, the method, the layer, the display settings, presenter mode.

Made here with their labels, options and sizes (:mod:`.appearance`); what each one does when it changes
is the :class:`~cam_utils.course.explorer.Explorer`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets

from . import appearance, page

__all__ = ["COLORMAPS", "INTERPOLATIONS", "Controls"]

COLORMAPS = ["jet", "turbo", "viridis", "inferno", "magma", "plasma"]
#: (label, mode passed to ``upsample``): nearest shows the raw grid of the map, bilinear is smooth.
INTERPOLATIONS = [("nearest (raw grid)", "nearest"), ("bilinear (smooth)", "bilinear")]


@dataclass
class Controls:
    """Every control of the explorer (the explorer keeps each as an attribute of the same name)."""

    image_picker: widgets.Dropdown
    upload: widgets.FileUpload
    class_select: widgets.Dropdown
    class_search: widgets.Combobox
    method: widgets.ToggleButtons
    layer: widgets.SelectionSlider
    opacity: widgets.FloatSlider
    cmap: widgets.Dropdown
    interpolation: widgets.Dropdown
    presenter: widgets.ToggleButton

    @classmethod
    def make(
        cls,
        picker_names: list[str],
        first_image_name: str,
        class_labels: list[str],
        methods: list[str],
        map_shapes: dict[str, tuple[int, ...]],
        feature_layer: str,
    ) -> Controls:
        """The controls: the picture menu (``picker_names``), a search over ``class_labels``, the ``methods``,
        a layer slider whose options show each layer's map size (``map_shapes``: layer -> (C, h, w))."""
        return cls(
            image_picker=widgets.Dropdown(
                options=picker_names,
                value=first_image_name,
                description="Image",
                layout=appearance.layout("image_picker"),
            ),
            upload=widgets.FileUpload(
                accept="image/*",
                multiple=False,
                description=appearance.UPLOAD_LABEL,
                layout=widgets.Layout(width="auto"),
            ),
            # The class: the top-10 of the current image (filled by the explorer), and a search over all classes.
            class_select=widgets.Dropdown(description="Class", layout=appearance.layout("class_select")),
            class_search=widgets.Combobox(
                options=class_labels,
                placeholder="type to search all classes",
                description="Any class",
                ensure_option=False,
                layout=appearance.layout("class_search"),
            ),
            method=widgets.ToggleButtons(
                options=methods, value="Grad-CAM", description="Method", style={"button_width": "auto"}
            ),
            layer=widgets.SelectionSlider(
                options=[(f"{name} ({h}×{w})", name) for name, (_, h, w) in map_shapes.items()],
                value=feature_layer,
                description="Layer",
                continuous_update=False,  # a new layer costs a forward pass: compute when released
                layout=appearance.layout("layer"),
            ),
            opacity=widgets.FloatSlider(
                value=0.5,
                min=0.0,
                max=1.0,
                step=0.05,
                description="Opacity",
                readout_format=".2f",
                layout=appearance.layout("opacity"),
            ),
            cmap=widgets.Dropdown(
                options=COLORMAPS, value="jet", description="Colormap", layout=appearance.layout("cmap")
            ),
            interpolation=widgets.Dropdown(
                options=INTERPOLATIONS,
                value="bilinear",
                description="Upsampling",
                layout=appearance.layout("interpolation"),
            ),
            presenter=page.presenter_toggle(),
        )

"""cam_utils: CAM and Grad-CAM, derived step by step in PyTorch.

Every public name is importable from the package itself, e.g. ``from cam_utils import grad_cam``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Where each public name lives. Names are imported the first time they are used,
# so that `import cam_utils` stays fast and one broken module does not hide the others.
_PUBLIC_NAMES = {
    # models and photos
    "load_model": "models",
    "LoadedModel": "loaded_model",
    "model_names": "models",
    "ModelSpec": "models",
    "register_model": "models",
    "WeightsError": "models",
    "WeightsDownloadError": "models",
    "sample_image": "images",
    "sample_image_names": "images",
    "load_image": "images",
    "ImageLoadError": "images",
    # errors with fields: problem, value, suggestion
    "CamUtilsError": "errors",
    "CamUtilsWarning": "errors",
    # hooks and the model's state
    "explaining": "model_state",
    "record_output": "hooks",
    "LayerForward": "hooks",
    "forward_with_features": "hooks",
    "probe_layers": "probe",
    # vision transformers: tokens as feature maps (reshape=)
    "vit_reshape": "tokens",
    "vit_reshape_for": "tokens",
    "attention_map": "attention",
    "attention_rollout": "attention",
    # the methods by name (the command line's --method, the explorer's menu)
    "CamMethod": "methods",
    "register_method": "methods",
    "get_method": "methods",
    "method_names": "methods",
    # CAM, Grad-CAM and variants
    "class_activation_map": "cam",
    "cam_from_features": "cam",
    "grad_cam": "gradcam",
    "grad_cam_from_forward": "gradcam",
    "class_gradients": "gradcam",
    "grad_cam_plus_plus": "variants",
    "grad_cam_plus_plus_from_forward": "variants",
    "hires_cam": "variants",
    "hires_cam_from_forward": "variants",
    "score_cam": "scorecam",
    # post-processing and pictures
    "upsample": "postprocess",
    "normalize": "postprocess",
    "overlay": "postprocess",
    "plot_steps": "plotting",
    "show_maps": "plotting",
    "shared_scale": "plotting",
    "explore": "course.explorer",
    "model_view": "loaded_model",
    # can we trust the heatmap?
    "deletion_curve": "metrics",
    "insertion_curve": "metrics",
    "average_drop_increase": "metrics",
    "pointing_game": "metrics",
    "energy_share": "metrics",
    "mask_iou": "metrics",
    "cascading_randomization": "sanity",
    "spearman_correlation": "sanity",
}

__all__ = sorted(_PUBLIC_NAMES)


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    if name in _PUBLIC_NAMES:
        module = importlib.import_module(f"{__name__}.{_PUBLIC_NAMES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)

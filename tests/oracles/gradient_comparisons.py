"""cam_utils' gradient maps and Score-CAM weights against Captum, pytorch-grad-cam and torchcam, one function per
quantity and case; each returns a :class:`~tests.oracles.compare.Comparison` (the tests assert it, the table
prints it)."""

from __future__ import annotations

import torch

from cam_utils import grad_cam, grad_cam_plus_plus, hires_cam, normalize
from cam_utils.gradcam import class_gradients
from cam_utils.hooks import forward_recording, forward_with_features
from cam_utils.scorecam import masked_scores

from .compare import Comparison, named_version
from .gradient_libraries import (
    captum_grad_cam,
    captum_gradient_x_activation,
    pytorch_grad_cam_run,
    torchcam_run,
)
from .models import Case, ScaledLogits, model_and_input, top_classes

CAPTUM, GRAD_CAM_LIB, TORCHCAM = (named_version(name) for name in ("captum", "grad-cam", "torchcam"))
#: Grad-CAM++ is compared on the logits times this factor: the gradients grow by it, g² by its square, and
#: pytorch-grad-cam's 1e-6 in α's denominator g²(2 + g·ΣA) + 1e-6 becomes negligible (untrained networks and
#: Lite0's inner blocks have gradients of 1e-4 and less). Both sides explain the same function.
GRAD_CAM_PLUS_PLUS_SCALE = 1e6


def _setup(case: Case) -> tuple[torch.nn.Module, torch.Tensor, list[int]]:
    model, x = model_and_input(case.model)
    return model, x, top_classes(model, x)


# --- Captum: any layer, also those followed by an in-place operation ----------------------------------------


def grad_cam_vs_captum(case: Case) -> Comparison:
    model, x, classes = _setup(case)
    ours = grad_cam(model, x, case.layer, classes)
    return Comparison("Grad-CAM map", f"{CAPTUM} LayerGradCam", ours, captum_grad_cam(model, x, case.layer, classes))


def hires_cam_vs_captum(case: Case) -> Comparison:
    model, x, classes = _setup(case)
    ours = hires_cam(model, x, case.layer, classes)  # signed, as LayerGradientXActivation summed over channels
    reference = captum_gradient_x_activation(model, x, case.layer, classes).sum(dim=1)
    return Comparison("HiResCAM map", f"{CAPTUM} LayerGradientXActivation, Σ channels", ours, reference)


def gradient_x_activation_vs_captum(case: Case) -> Comparison:
    model, x, classes = _setup(case)
    forward = forward_with_features(model, x, case.layer)
    ours = class_gradients(forward, torch.tensor(classes)) * forward.feature_maps.detach()  # (N, C, h, w)
    reference = captum_gradient_x_activation(model, x, case.layer, classes)
    return Comparison("gradient × activation ∂y^c/∂A ⊙ A", f"{CAPTUM} LayerGradientXActivation", ours, reference)


def gradients_vs_captum(case: Case) -> Comparison:
    model, x, classes = _setup(case)
    ours = class_gradients(forward_with_features(model, x, case.layer), torch.tensor(classes))
    reference = captum_gradient_x_activation(model, x, case.layer, classes, multiply=False)
    return Comparison(
        "gradients ∂y^c/∂A (class_gradients)", f"{CAPTUM} LayerGradientXActivation(×A off)", ours, reference
    )


# --- pytorch-grad-cam and torchcam, at layers whose output nothing overwrites ----------------------------------


def grad_cam_vs_pytorch_grad_cam(case: Case) -> Comparison:
    model, x, classes = _setup(case)
    run = pytorch_grad_cam_run("GradCAM", model, x, case.layer, classes)
    ours = grad_cam(model, x, case.layer, classes)
    return Comparison("Grad-CAM map", f"{GRAD_CAM_LIB} GradCAM (raw, its ReLU)", ours, run.raw_map.clamp(min=0))


def grad_cam_vs_torchcam(case: Case) -> Comparison:
    model, x, classes = _setup(case)
    run = torchcam_run("GradCAM", model, x, case.layer, classes)
    return Comparison("Grad-CAM map", f"{TORCHCAM} GradCAM", grad_cam(model, x, case.layer, classes), run.output)


def hires_cam_vs_pytorch_grad_cam(case: Case) -> Comparison:
    model, x, classes = _setup(case)
    run = pytorch_grad_cam_run("HiResCAM", model, x, case.layer, classes)
    ours = hires_cam(model, x, case.layer, classes)
    return Comparison("HiResCAM map", f"{GRAD_CAM_LIB} HiResCAM (before its clip)", ours, run.raw_map)


def grad_cam_plus_plus_vs_pytorch_grad_cam(case: Case) -> Comparison:
    model, x, classes = _setup(case)
    scaled = ScaledLogits(model, GRAD_CAM_PLUS_PLUS_SCALE)
    layer = f"net.{case.layer}"
    run = pytorch_grad_cam_run("GradCAMPlusPlus", scaled, x, layer, classes)
    ours = grad_cam_plus_plus(scaled, x, layer, classes)
    oracle = f"{GRAD_CAM_LIB} GradCAMPlusPlus, logits ×1e6"
    return Comparison("Grad-CAM++ map", oracle, ours, run.raw_map.clamp(min=0))


# --- Score-CAM: the masked images' scores, before the libraries' softmax across channels -----------------------


def _centred(values: torch.Tensor) -> torch.Tensor:
    return values.double() - values.double().mean(dim=1, keepdim=True)


def score_cam_scores(library: str) -> Comparison:
    """cam_utils' α_k = softmax(model(x ⊙ H^k))_c against a library told to score the same probability.

    The libraries return softmax_k(s_k) over the channels, so log(weight_k) = s_k - logsumexp(s): centred, the
    logs are the scores centred. Compared on :class:`~tests.oracles.models.SameResolutionGapNet`'s ``features``,
    whose masks need no upsampling (pytorch-grad-cam upsamples with ``align_corners=True``, the others with
    ``False``; torchcam normalises before upsampling, the others after). Tolerance relative to max α:
    float32 logs of weights near 1/6 are exact to 2e-7.
    """
    model, x = model_and_input("same_resolution_gapnet")
    classes = top_classes(model, x)
    feature_maps, _ = forward_recording(model, x, "features")  # (N, 6, 12, 12)
    ours = masked_scores(model, x, feature_maps, torch.tensor(classes), batch_size=4)  # (N, 6)
    if library == "pytorch-grad-cam":
        run = pytorch_grad_cam_run("ScoreCAM", model, x, "features", classes, softmax_target=True)
        oracle = f"{GRAD_CAM_LIB} ScoreCAM, softmax target, log weights"
    else:
        targets = [lambda logits, c=c: torch.softmax(logits, dim=-1)[c] for c in classes]
        run = torchcam_run("ScoreCAM", model, x, "features", classes, targets=targets, batch_size=4)
        oracle = f"{TORCHCAM} ScoreCAM, softmax target, log weights"
    assert run.weights is not None
    scale = float(ours.abs().max())
    return Comparison(
        "Score-CAM masked scores α_k (centred)", oracle, _centred(ours), _centred(run.weights.log()), scale=scale
    )


# --- Known deviations: measured against cam_utils, explained in the tests ---------------------------------------


def inplace_grad_cam(case: Case, library: str) -> Comparison:
    """Grad-CAM at a layer followed by an in-place operation: the library's map against cam_utils'."""
    model, x, classes = _setup(case)
    if library == "pytorch-grad-cam":
        run, oracle = pytorch_grad_cam_run("GradCAM", model, x, case.layer, classes), f"{GRAD_CAM_LIB} GradCAM"
        theirs = run.raw_map.clamp(min=0)
    else:
        run, oracle = torchcam_run("GradCAM", model, x, case.layer, classes), f"{TORCHCAM} GradCAM"
        theirs = run.output
    ours = grad_cam(model, x, case.layer, classes)
    quantity = f"Grad-CAM map at {case.label} (then {case.inplace_after})"
    return Comparison(quantity, oracle, theirs, ours, deviation="reads the output after it was overwritten (CPU)")


def grad_cam_plus_plus_as_shown(case: Case, library: str) -> Comparison:
    """Normalised Grad-CAM++ maps on the real logits: where the libraries' α departs from the paper's."""
    model, x, classes = _setup(case)
    ours = normalize(grad_cam_plus_plus(model, x, case.layer, classes))
    if library == "pytorch-grad-cam":
        raw = pytorch_grad_cam_run("GradCAMPlusPlus", model, x, case.layer, classes).raw_map.clamp(min=0)
        oracle, deviation = f"{GRAD_CAM_LIB} GradCAMPlusPlus", "1e-6 added to α's denominator g²(2 + g·ΣA)"
    else:
        raw = torchcam_run("GradCAMpp", model, x, case.layer, classes).output
        oracle, deviation = f"{TORCHCAM} GradCAMpp", "α never applied (in-place division on a masked copy)"
    return Comparison(f"Grad-CAM++ map at {case.label}, normalised", oracle, normalize(raw), ours, deviation=deviation)

"""The model-randomisation test itself: re-initialise the network stage by stage, compare the maps."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from .._checks import ClassIndex, resolve_class_idx
from ..model_state import model_lock
from ..probe import probing
from . import randomization
from .randomization import feature_scale, randomize_parameters
from .similarity import centred_ranks, correlation_of_ranks, hog_correlation, map_ssim

ExplainFn = Callable[[nn.Module, Tensor, Tensor], Tensor]
"""An explanation method: (model, x (N,3,H,W), class_idx (N,)) -> maps (N, h, w).

It receives a *copy* of the model, so it must name layers by their dotted name, e.g.
``lambda model, x, c: grad_cam(model, x, "bn2", c)``, not by a module object of the original.
"""

RandomizeFn = Callable[[nn.Module, torch.Generator], None]
"""Re-initialises a module's parameters in place from a generator (default :func:`randomize_parameters`)."""

# Outside this range of the trained model's feature-map scale, a stage tests numerical dust
# (collapse) or saturation (explosion) rather than the method: the check warns.
SCALE_RANGE = (0.1, 10.0)


@dataclass
class SanityStage:
    """The maps after one step of the randomisation, compared with the trained model's maps.

    Every comparison is per image, (N,), so spreads over images (and over seeds, by running the
    test again) can be reported. The first row of a result ("original") compares the trained
    model with itself.

    Attributes:
        stage: name of the module randomised at this step ("original" for the trained model).
        randomised: every module that is random at this step (cascade: this stage and all before it).
        maps: (N, h, w) the maps computed on the randomised model.
        spearman: (N,) Spearman's rank correlation with the trained model's maps (NaN for a constant map).
        spearman_abs: (N,) the same on absolute values.
        ssim: (N,) SSIM of the maps as shown (resized to the input, scaled to [0, 1]).
        hog: (N,) Pearson correlation of the HOG features of the maps as shown (NaN for a constant
            map, or when the input is smaller than one 24 x 24 HOG block).
        feature_scale: (N,) :func:`feature_scale` at ``feature_layer`` (NaN if none was given).
        scale_ratio: (N,) feature_scale divided by the trained model's; about 1 means the
            randomised network's activations are as alive as the trained one's.
    """

    stage: str
    randomised: tuple[str, ...]
    maps: Tensor
    spearman: Tensor
    spearman_abs: Tensor
    ssim: Tensor
    hog: Tensor
    feature_scale: Tensor
    scale_ratio: Tensor


def default_randomization_stages(model: nn.Module) -> list[str]:
    """Names of the modules to randomise, from the output down to the input.

    The top-level children that have parameters, in reverse order; a child that is a
    container (nn.Sequential / nn.ModuleList) of several parameterised modules is split into
    its own children. EfficientNet-Lite0 (timm) gives classifier, bn2, conv_head, blocks.6,
    ..., blocks.0, bn1, conv_stem; ResNet-18 gives fc, layer4.1, layer4.0, ..., bn1, conv1.
    """
    stages: list[str] = []
    for name, child in reversed(list(model.named_children())):
        if not any(True for _ in child.parameters()):
            continue
        parts = [
            (f"{name}.{part_name}", part)
            for part_name, part in child.named_children()
            if any(True for _ in part.parameters())
        ]
        if isinstance(child, (nn.Sequential, nn.ModuleList)) and len(parts) > 1:
            stages.extend(part_name for part_name, _ in reversed(parts))
        else:
            stages.append(name)
    return stages


def _scale_or_none(output: Tensor) -> Tensor | None:
    """``feature_scale`` of a layer's output, None if it is not feature maps (N, C, h, w)."""
    return feature_scale(output) if output.dim() == 4 else None


def cascading_randomization(
    model: nn.Module,
    x: Tensor,
    explain: ExplainFn,
    stages: Sequence[str] | None = None,
    class_idx: ClassIndex = None,
    seed: int = 0,
    cascade: bool = True,
    feature_layer: str | None = None,
    randomize: RandomizeFn = randomize_parameters,
    reestimate_batchnorm: bool = True,
    batchnorm_images: Tensor | None = None,
) -> list[SanityStage]:
    """Model-randomisation sanity check (Adebayo et al., NeurIPS 2018): how much of the map survives?

    1. Explain x with the trained model (for ``class_idx``; None: each image's top-1 class,
       fixed once and used for every stage).
    2. For each stage, in the order given (output first), re-initialise its parameters in a
       deep copy of the model (``randomize``, seeded), re-estimate the running statistics of
       every BatchNorm layer whose input changed (those in the randomised stages and every one
       that runs after them in the forward pass) on ``batchnorm_images`` (default: x itself),
       and explain x again.
       ``cascade=True`` (the paper's cascading test) keeps the stages randomised before it;
       ``cascade=False`` randomises that stage alone (the paper's independent test).
    3. Compare each map with the original: Spearman's rho, rho on absolute values, SSIM, the
       correlation of HOG features; and the feature-map scale at ``feature_layer`` with the
       trained model's.

    Args:
        model: the trained classifier; it is copied, never modified. Maps are computed on
            copies in eval mode.
        x: (N, C, H, W) input batch to explain.
        explain: fn(model, x, class_idx) -> (N, h, w) maps; it must name layers by their
            dotted name (see ``ExplainFn``).
        stages: dotted module names, output first; None uses :func:`default_randomization_stages`.
        class_idx: None, an int, or one class index per image.
        seed: stage i's random weights are drawn by a torch.Generator seeded with seed + i.
        cascade: cumulative (True) or one stage at a time (False).
        feature_layer: dotted name of the explained layer; its feature-map scale is recorded at
            every stage (a warning says when it leaves 0.1x-10x of the trained model's).
        randomize: fn(module, generator) re-initialising a module in place.
        reestimate_batchnorm: re-estimate the statistics of the BatchNorm layers at and after
            the randomised stages (True, sound); False keeps whatever ``randomize`` left in them
            and the trained statistics of the others.
        batchnorm_images: (M, C, H', W') images to re-estimate the statistics on, in one extra
            forward pass per stage. None estimates them on x during the explaining pass itself
            (no extra cost), but then each image's randomised map depends on the *other* images
            of x: on Lite0, swapping an image's two companions leaves its map at a rank correlation
            of only -0.03 to 0.25 with what it was from ``blocks.2`` down. Pass a fixed set of
            other images to remove that dependence.

    Returns:
        [the "original" row, then one SanityStage per stage].
    """
    stages = list(default_randomization_stages(model) if stages is None else stages)
    module_names = {name for name, _ in model.named_modules()}
    unknown = [name for name in stages + ([feature_layer] if feature_layer else []) if name not in module_names]
    if unknown:
        raise ValueError(
            f"Unknown stage or layer {unknown[0]!r}: not a module of the model. Use dotted names from "
            "model.named_modules(), e.g. default_randomization_stages(model)."
        )
    if not stages:
        raise ValueError("stages is empty: give at least one module name to randomise.")

    # explain only ever sees copies in eval mode: even a careless explain function (one that
    # runs BatchNorm in train mode, or leaves hooks behind) cannot change the user's model.
    with model_lock(model):  # not while another thread explains it: its hooks and flags are mid-change
        working = copy.deepcopy(model).eval()
    call_order, logits = _forward_order(working, x)  # also gives the classes to explain
    classes = resolve_class_idx(class_idx, logits)  # (N,) fixed for every stage

    def explain_and_measure(network: nn.Module, batchnorms: list[_BatchNorm]) -> tuple[Tensor, Tensor]:
        if batchnorm_images is not None and batchnorms:  # a separate set: one forward pass on it first
            randomization.reestimate_batchnorm(network, batchnorms, batchnorm_images)
            batchnorms = []
        # The feature-map scale is measured during the explanation's own forward pass on x (free), else in
        # one more forward pass; forwards on other inputs (Score-CAM's masked images) are not measured.
        layers = [feature_layer] if feature_layer else []
        with (
            randomization.estimating_batchnorm(network, batchnorms, x),
            probing(network, layers, measure=_scale_or_none, on_input=x) as seen,
        ):
            maps = explain(network, x, classes)
            if layers and feature_layer not in seen:
                with torch.no_grad():
                    network(x)
        if not isinstance(maps, Tensor) or maps.dim() != 3 or maps.shape[0] != x.shape[0]:
            shape = tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__
            raise ValueError(f"explain returned {shape}; it must return one map per image, shape ({x.shape[0]}, h, w).")
        measured = seen[feature_layer].measured if feature_layer else None
        scale = torch.full((x.shape[0],), math.nan, dtype=torch.float64) if measured is None else measured
        return maps.detach(), scale.cpu()

    def compare(stage: str, randomised: tuple[str, ...], maps: Tensor, scale: Tensor) -> SanityStage:
        if maps.shape != original.shape:
            raise ValueError(
                f"explain returned maps of shape {tuple(maps.shape)} after randomising {stage!r}, "
                f"but {tuple(original.shape)} for the trained model."
            )
        ranks = centred_ranks(maps)
        size = (x.shape[2], x.shape[3])  # the maps are compared as shown, at the input's size
        # For maps without negative values (Grad-CAM's ReLU), absolute values change nothing.
        signed = bool((maps < 0).any()) or bool((original < 0).any())
        return SanityStage(
            stage=stage,
            randomised=randomised,
            maps=maps,
            spearman=correlation_of_ranks(original_ranks, ranks),
            spearman_abs=correlation_of_ranks(
                original_abs_ranks, centred_ranks(maps, absolute=True) if signed else ranks
            ),
            ssim=map_ssim(original, maps, size=size),
            hog=hog_correlation(original, maps, size=size) if min(size) >= 24 else torch.full_like(scale, math.nan),
            feature_scale=scale,
            scale_ratio=scale / trained_scale,
        )

    original, trained_scale = explain_and_measure(working, [])  # (N, h, w), (N,)
    original_ranks = centred_ranks(original)  # computed once, compared with every stage
    original_abs_ranks = centred_ranks(original, absolute=True)
    results = [compare("original", (), original, trained_scale)]
    trained_state = None if cascade else copy.deepcopy(working.state_dict())
    randomised: tuple[str, ...] = ()
    for index, stage in enumerate(stages):
        if not cascade:  # back to the trained weights: one stage random at a time
            assert trained_state is not None  # set above whenever cascade is False
            working.load_state_dict(trained_state)
            randomised = ()
        # One generator per stage: stage i's random weights are the same in both modes.
        randomize(working.get_submodule(stage), torch.Generator().manual_seed(seed + index))
        randomised = randomised + (stage,)
        # BatchNorm layers whose input changed: those in the randomised stages and after them.
        batchnorms = _batchnorm_layers_from(working, randomised, call_order) if reestimate_batchnorm else []
        maps, scale = explain_and_measure(working, batchnorms)
        results.append(compare(stage, randomised, maps, scale))

    _warn_if_scale_left_range(results, feature_layer)
    return results


def _forward_order(model: nn.Module, x: Tensor) -> tuple[dict[str, int], Tensor]:
    """One forward pass of ``x`` (no gradients) that records when each module first runs.

    Returns ({dotted name: index of its first call}, logits (N, num_classes)).
    """
    order: dict[str, int] = {}

    def recorder(name: str) -> Callable[[nn.Module, tuple[object, ...]], None]:
        def record(module: nn.Module, args: tuple[object, ...]) -> None:
            order.setdefault(name, len(order))

        return record

    handles = [module.register_forward_pre_hook(recorder(name)) for name, module in model.named_modules()]
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return order, logits


def _batchnorm_layers_from(model: nn.Module, stages: Sequence[str], call_order: dict[str, int]) -> list[_BatchNorm]:
    """The BatchNorm layers that run at or after the first of ``stages`` in the forward pass."""
    starts = [call_order[name] for name in stages if name in call_order]
    if not starts:
        return []
    first = min(starts)
    return [
        layer
        for name, layer in model.named_modules()
        if isinstance(layer, _BatchNorm) and layer.track_running_stats and call_order.get(name, -1) >= first
    ]


def _warn_if_scale_left_range(results: Sequence[SanityStage], feature_layer: str | None) -> None:
    """Warn once if the feature-map scale left SCALE_RANGE at some stage (collapse or explosion)."""
    low, high = SCALE_RANGE
    for row in results:
        ratio = row.scale_ratio[~row.scale_ratio.isnan()]
        if ratio.numel() and (ratio.min() < low or ratio.max() > high):
            warnings.warn(
                f"After randomising down to {row.stage!r}, the feature-map scale at {feature_layer!r} is "
                f"{ratio.min().item():.3g}x to {ratio.max().item():.3g}x the trained model's: the randomised "
                "network's activations collapsed or exploded, so the maps at this stage test little. "
                "Use randomize_parameters with reestimate_batchnorm=True.",
                RuntimeWarning,
                stacklevel=3,
            )
            return

"""Sanity check for saliency maps: cascading model randomisation (Adebayo et al., NeurIPS 2018).

If a map explains the *model*, it must change when the model's learned weights are destroyed.
Starting at the classifier and going down towards the input, we re-initialise one more stage
of a copy of the model at each step, recompute the map for the same images and the same
classes, and measure how similar it still is to the original map with Spearman's rank
correlation. A method that passes (Grad-CAM does) shows correlations that fall; a method that
fails (Guided Backprop, in the paper) keeps producing the same picture, whatever the weights:
it is then closer to an edge detector than to an explanation.

The user's model is never touched: all randomisation happens in a ``copy.deepcopy``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from cam_utils._checks import ClassIndex, resolve_class_idx
from cam_utils.model_state import explaining

ExplainFn = Callable[[nn.Module, Tensor, Tensor], Tensor]
"""An explanation method: (model, x (N,3,H,W), class_idx (N,)) -> maps (N, h, w).

It receives a *copy* of the model, so it must name layers by their dotted name, e.g.
``lambda model, x, c: grad_cam(model, x, "bn2", c)``, not by a module object of the original.
"""


@dataclass
class SanityStage:
    """The map after randomising the model down to one stage.

    Attributes:
        stage: name of the module randomised last ("original" for the untouched model).
        spearman: mean over images of Spearman's rank correlation with the original map
            (NaN images, whose map is constant, left out; NaN if all are).
        per_image: (N,) Spearman correlation of each image's map with its original map.
        maps: (N, h, w) the maps computed on the model randomised down to ``stage``.
    """

    stage: str
    spearman: float
    per_image: Tensor
    maps: Tensor


def average_ranks(values: Tensor) -> Tensor:
    """Ranks 1..P along the last dimension, tied values sharing their average rank.

    E.g. [10, 20, 20, 5] -> [2, 3.5, 3.5, 1]. This is how Spearman's correlation treats ties
    (and scipy.stats.rankdata's default). Ties matter for saliency maps: Grad-CAM's ReLU sets
    whole regions to exactly 0.

    Args:
        values: (..., P) tensor.

    Returns:
        (..., P) float64 tensor of ranks.
    """
    flat = values.reshape(-1, values.shape[-1])  # (B, P)
    n_rows, length = flat.shape
    sorted_values, order = flat.sort(dim=1, stable=True)
    # A new group of equal values starts wherever the sorted value changes.
    starts_group = torch.ones_like(sorted_values, dtype=torch.bool)
    starts_group[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    group = starts_group.long().cumsum(dim=1) - 1  # (B, P): group id of each sorted position
    positions = torch.arange(1, length + 1, dtype=torch.float64, device=values.device).expand(n_rows, length)
    # Average position within each group = sum of positions / group size.
    position_sums = torch.zeros(n_rows, length, dtype=torch.float64, device=values.device).scatter_add_(1, group, positions)
    group_sizes = torch.zeros(n_rows, length, dtype=torch.float64, device=values.device).scatter_add_(
        1, group, torch.ones_like(positions)
    )
    sorted_ranks = position_sums.gather(1, group) / group_sizes.gather(1, group)  # (B, P)
    ranks = torch.empty_like(sorted_ranks).scatter_(1, order, sorted_ranks)  # back to input order
    return ranks.reshape(values.shape)


def spearman_correlation(first: Tensor, second: Tensor) -> Tensor:
    """Spearman's rank correlation between the maps of ``first`` and ``second``, image by image.

    rho = Pearson correlation of the average ranks (ties get their mean rank), computed on the
    flattened maps. A constant map has no ranking: its correlation is NaN (as in scipy).

    Args:
        first, second: (N, ...) tensors of the same shape; everything after dim 0 is flattened.

    Returns:
        (N,) float64 tensor in [-1, 1] (or NaN).
    """
    if first.shape != second.shape:
        raise ValueError(f"Maps to compare must have the same shape, got {tuple(first.shape)} and {tuple(second.shape)}.")
    ranks_a = average_ranks(first.reshape(first.shape[0], -1).double())  # (N, P)
    ranks_b = average_ranks(second.reshape(second.shape[0], -1).double())
    centred_a = ranks_a - ranks_a.mean(dim=1, keepdim=True)
    centred_b = ranks_b - ranks_b.mean(dim=1, keepdim=True)
    covariance = (centred_a * centred_b).sum(dim=1)
    scale = torch.sqrt((centred_a**2).sum(dim=1) * (centred_b**2).sum(dim=1))
    return torch.where(scale > 0, covariance / scale, torch.full_like(scale, math.nan))


def default_randomization_stages(model: nn.Module) -> list[str]:
    """Names of the modules to randomise, from the output down to the input.

    The top-level children that have parameters, in reverse order; a child that is a
    container (nn.Sequential / nn.ModuleList) of several parameterised modules is split into
    its own children. EfficientNet-Lite0 (timm) gives classifier, bn2, conv_head, blocks.6,
    ..., blocks.0, bn1, conv_stem; ResNet-18 gives fc, layer4.1, layer4.0, ..., bn1, conv1.
    """
    stages = []
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


def randomize_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Overwrite every parameter of ``module`` (in place!) with random values from ``generator``.

    Weights with 2 or more dimensions get U(-b, b) with b = 1 / sqrt(fan_in) (fan_in = inputs
    per output unit: PyTorch's default range for Conv and Linear layers); 1-D parameters
    (biases, BatchNorm scales and shifts) get U(-1, 1). Buffers (BatchNorm running statistics)
    are kept: Adebayo et al. randomise the learned weights. Use only on a copy of a model.
    """
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.dim() >= 2:
                bound = 1.0 / math.sqrt(parameter[0].numel())
            else:
                bound = 1.0
            values = torch.rand(parameter.shape, generator=generator, dtype=torch.float64)
            parameter.copy_((2 * values - 1) * bound)


def cascading_randomization(
    model: nn.Module,
    x: Tensor,
    explain: ExplainFn,
    stages: Sequence[str] | None = None,
    class_idx: ClassIndex = None,
    seed: int = 0,
    cascade: bool = True,
) -> list[SanityStage]:
    """Model-randomisation sanity check: how much of the map survives random weights?

    1. Explain x with the trained model (for ``class_idx``; None: each image's top-1 class,
       fixed once and used for every stage).
    2. For each stage, in the order given (output first), re-initialise its parameters in a
       deep copy of the model (:func:`randomize_parameters`, seeded) and explain x again.
       ``cascade=True`` (the paper's cascading test) keeps the stages randomised before it;
       ``cascade=False`` randomises that stage alone (the paper's independent test).
    3. Compare each map with the original: :func:`spearman_correlation`.

    Args:
        model: the trained classifier; it is copied, never modified. Maps are computed on
            copies in eval mode (BatchNorm running statistics, no dropout).
        x: (N, C, H, W) input batch.
        explain: fn(model, x, class_idx) -> (N, h, w) maps; it must name layers by their
            dotted name (see ``ExplainFn``).
        stages: dotted module names, output first; None uses
            :func:`default_randomization_stages`.
        class_idx: None, an int, or one class index per image.
        seed: stage i's random weights are drawn by a torch.Generator seeded with seed + i.
        cascade: cumulative (True) or one stage at a time (False).

    Returns:
        [SanityStage("original", 1.0, ...), then one SanityStage per stage].
    """
    if stages is None:
        stages = default_randomization_stages(model)
    stages = list(stages)
    module_names = {name for name, _ in model.named_modules()}
    unknown = [name for name in stages if name not in module_names]
    if unknown:
        raise ValueError(
            f"Unknown stage {unknown[0]!r}: not a module of the model. Use dotted names from "
            "model.named_modules(), e.g. default_randomization_stages(model)."
        )
    if not stages:
        raise ValueError("stages is empty: give at least one module name to randomise.")

    with explaining(model), torch.no_grad():
        logits = model(x)  # (N, num_classes)
    classes = resolve_class_idx(class_idx, logits)  # (N,) fixed for every stage

    def explain_checked(network: nn.Module) -> Tensor:
        maps = explain(network, x, classes)
        if not isinstance(maps, Tensor) or maps.dim() != 3 or maps.shape[0] != x.shape[0]:
            shape = tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__
            raise ValueError(f"explain returned {shape}; it must return one map per image, shape ({x.shape[0]}, h, w).")
        return maps.detach()

    # explain only ever sees copies in eval mode: even a careless explain function (one that
    # runs BatchNorm in train mode, or leaves hooks behind) cannot change the user's model.
    def evaluation_copy() -> nn.Module:
        return copy.deepcopy(model).eval()

    original = explain_checked(evaluation_copy())  # (N, h, w)
    same = torch.ones(x.shape[0], dtype=torch.float64)  # a map is perfectly correlated with itself
    results = [SanityStage("original", 1.0, same, original)]
    randomised = evaluation_copy()
    for index, stage in enumerate(stages):
        if not cascade:
            randomised = evaluation_copy()
        # One generator per stage: stage i's random weights are the same in both modes.
        generator = torch.Generator().manual_seed(seed + index)
        randomize_parameters(randomised.get_submodule(stage), generator)
        maps = explain_checked(randomised)
        per_image = spearman_correlation(original, maps)  # (N,)
        valid = per_image[~per_image.isnan()]
        mean = valid.mean().item() if valid.numel() else math.nan
        results.append(SanityStage(stage, mean, per_image, maps))
    return results


def format_sanity_table(results: Sequence[SanityStage]) -> str:
    """The results as a plain-text table: stage and mean Spearman correlation."""
    width = max([len("randomised down to")] + [len(row.stage) for row in results])
    lines = [f"{'randomised down to':<{width}}  Spearman"]
    lines += [f"{row.stage:<{width}}  {row.spearman:8.3f}" for row in results]
    return "\n".join(lines)

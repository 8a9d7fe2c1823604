"""Training the shapes networks (deterministic, CPU), measuring accuracy, loading the shipped weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from cam_utils.model_state import explaining

from .data import ShapesData, make_shapes
from .registry import SHAPES_MODELS, shapes_architecture

if TYPE_CHECKING:  # only for type hints
    from cam_utils.models import LoadedModel

WEIGHTS_PATH = SHAPES_MODELS["gapnet"].weights_path
"""Where the trained weights of :class:`ShapesGapNet` ship inside the package (see ``registry.py`` for the others)."""

# ----------------------------------------------------------------------------------------------
# Training (deterministic, CPU) and loading the shipped weights
# ----------------------------------------------------------------------------------------------


def accuracy(model: nn.Module, data: ShapesData, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on ``data``, in [0, 1] (eval behaviour, no gradients; flags restored)."""
    correct = 0
    with explaining(model), torch.no_grad():
        device = next(model.parameters()).device
        for start in range(0, len(data), batch_size):
            logits = model(data.images[start : start + batch_size].to(device))
            correct += int((logits.argmax(dim=1).cpu() == data.labels[start : start + batch_size]).sum())
    return correct / len(data)


def train_shapes_model(
    n_train: int | None = None,
    epochs: int | None = None,
    batch_size: int = 64,
    learning_rate: float | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = print,
    model: str = "gapnet",
) -> nn.Module:
    """Train a registered shapes network (default :class:`ShapesGapNet`) from scratch, deterministically, on the CPU.

    The training set is ``make_shapes(n_train, seed=seed)``; the weights are initialised and the
    batches shuffled from ``seed`` too, and torch's deterministic algorithms are switched on for
    the duration (then restored), so the same arguments give the same weights on the same
    machine. Adam with a cosine learning-rate schedule, cross-entropy loss.

    Args:
        n_train: number of training images (None: the architecture's recipe, see ``registry.py``).
        epochs: passes over the training set (None: the recipe's).
        batch_size: images per optimisation step.
        learning_rate: Adam's initial learning rate (None: the recipe's).
        seed: seed for data, initialisation and shuffling.
        log: called with one line per epoch; None for silence.
        model: the architecture's name in the registry ("gapnet", "mlpnet", ...).

    Returns:
        The trained model, in eval mode.
    """
    architecture = shapes_architecture(model)
    n_train = architecture.n_train if n_train is None else n_train
    epochs = architecture.epochs if epochs is None else epochs
    learning_rate = architecture.learning_rate if learning_rate is None else learning_rate
    if n_train < batch_size:
        raise ValueError(f"n_train ({n_train}) must be at least batch_size ({batch_size}).")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        data = make_shapes(n_train, seed=seed)
        with torch.random.fork_rng(devices=[]):  # leave the caller's global random state alone
            torch.manual_seed(seed)
            network = architecture.build()
        generator = torch.Generator().manual_seed(seed + 1)
        optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
        steps_per_epoch = n_train // batch_size
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
        network.train()
        for epoch in range(epochs):
            order = torch.randperm(n_train, generator=generator)
            total_loss = 0.0
            for step in range(steps_per_epoch):
                batch = order[step * batch_size : (step + 1) * batch_size]
                logits = network(data.images[batch])  # (B, 5)
                loss = F.cross_entropy(logits, data.labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                total_loss += loss.item()
            if log is not None:
                log(f"epoch {epoch + 1}/{epochs}: mean training loss {total_loss / steps_per_epoch:.4f}")
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    return network.eval()


def load_shapes_model(name: str = "gapnet", weights: str | Path | None = None, pretrained: bool = True) -> LoadedModel:
    """A trained shapes network, ready to be explained, as a :class:`cam_utils.models.LoadedModel`.

    ``cam_utils.load_model("shapes_NAME")`` gives the same model, so the command line and the
    explorer choose it like the ImageNet models.

    Args:
        name: the architecture in the registry: "gapnet" (:class:`ShapesGapNet`, GAP + one linear
            layer), "mlpnet" (:class:`ShapesMLPNet`, flatten + hidden layer), "vit"
            (:class:`ShapesViT`), or any other registered one (``python -m cam_utils.course.shapes list``).
        weights: a state_dict saved by ``python -m cam_utils.course.shapes train --model NAME``; None
            loads the weights that ship with the package (``cam_utils/course/shapes/data/shapes_NAME.pt``).
        pretrained: False gives the architecture with its random initial weights (``weights`` unused).

    Returns:
        LoadedModel with ``model`` in eval mode, ``feature_layer`` (the 8x8 map A), ``classifier``
        (the last linear layer), ``categories`` (CLASS_NAMES), the architecture's ``stages``,
        ``reshape`` (the ViT's tokens -> maps), ``gap_head`` (whether CAM applies), a ``transform``
        from PIL images to normalised 64x64 tensors, and ``samples`` (one picture per class).
    """
    return shapes_architecture(name).model_spec(weights).load(pretrained)

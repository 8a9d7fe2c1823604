"""Checks of the command line's options, in command-line terms, before any computation (internal).

``python -m cam_utils`` must fail fast (Score-CAM can take a minute) and say what to type:
``--layer blocks.6``, ``--method gradcam``, ``--model efficientnet_lite0``, not a Python call.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import torch

from cam_utils._layers import close_names
from cam_utils.errors import CamUtilsError, CamUtilsWarning, CancelledMapWarning, NotGapNetworkError
from cam_utils.images import ImageTooLargeError
from cam_utils.methods import get_method, method_names
from cam_utils.models import LoadedModel, WeightsDownloadError, load_model
from cam_utils.probe import LayerProbe, probe_layers

#: The suggestion of a library error or warning, said with the command's options (by class, most specific first).
_CLI_SUGGESTIONS: dict[type, str] = {
    NotGapNetworkError: "Use --method gradcam for other networks and layers.",
    ImageTooLargeError: "Resize it first, or pass a larger --max-pixels if you trust it.",
    CancelledMapWarning: "Pass the normalisation's output as --layer instead (e.g. --layer blocks.3.norm1 rather "
    "than blocks.2), or use --method gradcam.",
}


class CommandLineError(CamUtilsError):
    """A problem with the command's arguments; the message is shown as ``error: <message>``."""


def in_cli_terms(problem: BaseException | str) -> str:
    """The message of a library error or warning, on one line, its suggestion said with the command's options.

    Built from the fields of :class:`~cam_utils.errors.CamUtilsError` (or ``CamUtilsWarning``): the
    problem, then the command line's own suggestion for that class of problem, else the library's.
    """
    if isinstance(problem, (CamUtilsError, CamUtilsWarning)):
        suggestion = next(
            (_CLI_SUGGESTIONS[kind] for kind in type(problem).__mro__ if kind in _CLI_SUGGESTIONS), problem.suggestion
        )
        text = f"{problem.problem} {suggestion}" if suggestion else problem.problem
    else:
        text = str(problem)
    return " ".join(text.split()) or type(problem).__name__


#: The figure formats the command line writes (matplotlib's names). Others need extra programs (.pgf: LaTeX).
FIGURE_FORMATS = ("png", "jpg", "jpeg", "pdf", "svg")


def check_output_path(output: str, image: str) -> None:
    """Fail before the (slow) computation if the figure cannot be written, or would overwrite the photo."""
    if os.path.isdir(output):
        raise CommandLineError(
            f"-o {output!r} is a folder; give a file name, e.g. {os.path.join(output, 'figure.png')!r}."
        )
    extension = os.path.splitext(output)[1].lower().lstrip(".")
    if extension not in FIGURE_FORMATS:
        raise CommandLineError(
            f"cannot tell the figure format from {output!r}: use one of the extensions "
            f"{', '.join('.' + name for name in FIGURE_FORMATS)}."
        )
    if os.path.islink(output) and not os.path.exists(output):
        raise CommandLineError(
            f"-o {output!r} is a symbolic link to a file that does not exist "
            f"({os.readlink(output)!r}). Remove the link, or write elsewhere."
        )
    if os.path.exists(output) and not os.path.isfile(output):
        raise CommandLineError(f"-o {output!r} is not a regular file (a pipe or a device?); give a file name.")
    if os.path.exists(output) and os.path.exists(image) and os.path.samefile(output, image):
        stem = os.path.splitext(os.path.basename(image))[0]
        raise CommandLineError(
            f"-o {output!r} is the input image {image!r} (the same file): the figure would replace your photo. "
            f"Write it elsewhere, e.g. -o {stem}_cam.png."
        )
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise CommandLineError(f"cannot write {output!r}: the folder {folder!r} does not exist. Create it first.")
    name_max = os.pathconf(folder, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    if len(os.fsencode(os.path.basename(output))) > name_max:
        raise CommandLineError(
            f"the file name of -o is {len(os.path.basename(output))} characters long; this file "
            f"system allows {name_max}. Choose a shorter name."
        )
    try:  # the only sure test of writing, also for root and read-only file systems
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise CommandLineError(
            f"cannot write {output!r} ({error.strerror or error}). Choose a file in a folder you can write to."
        ) from None


def save_figure_whole(figure: Any, output: str) -> None:
    """Write the figure to a temporary file beside ``output``, then rename it: ``output`` is either the
    complete new figure or, if anything stops the writing (Ctrl-C, a full disk), what it was before."""
    folder = os.path.dirname(os.path.abspath(output))
    extension = os.path.splitext(output)[1].lower().lstrip(".")
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".cam-figure-", suffix="." + extension)
    try:
        with os.fdopen(descriptor, "wb") as file:
            figure.savefig(file, dpi=100, format=extension)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as a newly created file would be (mkstemp makes it private)
        os.replace(temporary, output)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def load_model_for_cli(name: str) -> LoadedModel:
    """``load_model(name)``, with the offline failure said in command-line terms."""
    try:
        return load_model(name)
    except WeightsDownloadError as error:
        raise CommandLineError(
            f"could not get the pretrained weights of {name} (not cached at {error.cached_file}; the download from "
            f"{error.url} failed: {error.reason}). Offline, use --model efficientnet_lite0 (its weights ship with "
            f"the package), or copy the file to {error.cached_file}."
        ) from None


def _stages(net: LoadedModel) -> str:
    return ", ".join(net.stages)


def resolve_layer_option(net: LoadedModel, layer: str | None) -> str:
    """``--layer``: the model's feature layer by default; an empty or unknown name fails with suggestions."""
    if layer is None:
        return net.feature_layer_name
    if not layer.strip():
        raise CommandLineError(
            f"--layer is empty. Leave it out for {net.name}'s feature layer {net.feature_layer_name}, or give a "
            f"module name, e.g. one of its stages: {_stages(net)}."
        )
    names = [name for name, _ in net.model.named_modules() if name]
    if layer not in names:
        close = close_names(layer, names)
        hint = f"Did you mean {' or '.join('--layer ' + name for name in close)}?" if close else ""
        raise CommandLineError(
            f"--layer {layer!r} is not a module of {net.name}. {hint} Its stages, shallow to deep: {_stages(net)}."
        )
    return layer


def classify_and_probe(net: LoadedModel, x: torch.Tensor, layer: str) -> tuple[torch.Tensor, LayerProbe]:
    """One gradient-free forward: the logits (1, classes), and what ``layer`` output."""
    logits, seen = probe_layers(net.model, x, [layer])
    return logits, seen[layer]


def check_layer_output(net: LoadedModel, probe: LayerProbe, method: str) -> None:
    """The layer must output feature maps (or tokens, for a transformer); CAM only at the feature layer."""
    layer, shape = probe.layer, probe.shape
    suggestion = f"choose one of {net.name}'s stages: {_stages(net)}"
    if not probe.ran:
        raise CommandLineError(f"--layer {layer} is not used when {net.name} classifies an image; {suggestion}.")
    tokens = net.reshape is not None and shape is not None and len(shape) == 3
    if not (shape is not None and len(shape) == 4) and not tokens:
        shown = shape if shape is not None else probe.output_type
        raise CommandLineError(f"--layer {layer} outputs {shown}, not feature maps (1, C, h, w); {suggestion}.")
    if not get_method(method).needs_gap_head:
        return
    # A method that reads the class weights of a GAP head (CAM, or one registered like it).
    others = ", ".join(name for name in method_names() if name != "gradcam" and not get_method(name).needs_gap_head)
    if not net.gap_head:
        raise CommandLineError(
            f"--method {method} needs a classifier that reads the global average of the feature maps (M_c = Σ_k "
            f"w_k^c A^k); {net.name} has another head, so its class weights do not belong to any layer's "
            f"channels. Use --method gradcam (or {others}), which need only the layer."
        )
    if layer != net.feature_layer_name:
        raise CommandLineError(
            f"--method {method} works only at {net.name}'s feature layer {net.feature_layer_name} (its class "
            f"weights belong to that layer's channels): leave out --layer, or use --method gradcam at --layer {layer}."
        )

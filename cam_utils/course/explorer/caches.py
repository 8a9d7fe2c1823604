"""What the explorer remembers about the current picture: forward passes per layer and raw maps.

One forward pass per (image, layer): ``forward_with_features`` splits the forward at the layer and keeps the
graph from the feature maps A to the class scores y, so a new class costs one backward pass and CAM none. Raw
maps (before normalisation) are kept per (layer, method, class), so the display settings only redo the cheap
last steps. Both belong to one input ``x`` and to the model's weights as they were: an in-place change of the
weights (an optimizer step, ``load_state_dict``) empties them.
"""

from __future__ import annotations

import torch

from cam_utils._warnings import library_warnings
from cam_utils.hooks import LayerForward, forward_with_features
from cam_utils.models import LoadedModel

from .methods import METHODS, MapRequest, compute_map

__all__ = ["MapCache", "MapKey"]

# (layer, method label, class): the key of a raw map. (A plain comment: as a "#:" doc comment, autodoc would
# document the alias with tuple's own docstring, whose "layer" cross-reference is ambiguous on the API page.)
MapKey = tuple[str, str, int]


class MapCache:
    """The forward passes and raw maps of one input ``x`` of ``net`` (:meth:`use` switches to another)."""

    def __init__(self, net: LoadedModel) -> None:
        self.net = net
        self.x = torch.empty(0)  # (1, 3, H, W) the current input, set by use()
        self._forwards: dict[str, LayerForward] = {}  # layer -> forward split there
        self._raw_maps: dict[MapKey, tuple[torch.Tensor, str]] = {}  # key -> (h, w) map, the library's warning
        self._for_version: tuple[int, ...] = ()  # the weights' versions the entries belong to

    def use(self, x: torch.Tensor) -> None:
        """A new input: forget everything computed for the previous one."""
        self.x = x
        self._forwards.clear()
        self._raw_maps.clear()

    def _weights_version(self) -> tuple[int, ...]:
        """PyTorch counts the in-place changes of every tensor (``_version``): an optimizer step or a
        ``load_state_dict`` on the model changes this tuple, so cached forwards and maps are stale."""
        model = self.net.model
        return tuple(tensor._version for tensor in (*model.parameters(), *model.buffers()))

    def drop_if_weights_changed(self) -> None:
        """Empty the caches if the model's weights changed in place since they were filled."""
        version = self._weights_version()
        if version != self._for_version:
            self._forwards.clear()
            self._raw_maps.clear()
            self._for_version = version

    def forward(self, layer: str) -> LayerForward:
        """The forward pass split at ``layer`` (computed once, then kept while the weights stay the same)."""
        self.drop_if_weights_changed()
        if layer not in self._forwards:
            self._forwards[layer] = forward_with_features(self.net.model, self.x, layer, reshape=self.net.reshape)
        return self._forwards[layer]

    def request(self, layer: str, class_idx: int) -> MapRequest:
        """What a method needs to compute the map of ``class_idx`` at ``layer``."""
        return MapRequest(self.net, self.x, layer, self.forward(layer), class_idx)

    def __contains__(self, key: MapKey) -> bool:
        return key in self._raw_maps

    def raw_map(self, key: MapKey) -> tuple[torch.Tensor, str]:
        """The method's map (h, w) before normalisation, and the library's warning about it if any
        (e.g. HiResCAM cancelling at a ViT block's output); computed once, then kept."""
        self.drop_if_weights_changed()
        if key not in self._raw_maps:
            layer, method_name, class_idx = key
            with library_warnings() as messages:
                raw_map = compute_map(METHODS[method_name], self.request(layer, class_idx))[0].detach()  # (h, w)
            self._raw_maps[key] = (raw_map, " ".join(messages))
        return self._raw_maps[key]

    def keep(self, key: MapKey, raw_map: torch.Tensor) -> None:
        """Keep a map computed elsewhere (a slow map's worker thread) for the current input, unless the weights
        changed meanwhile (then the map is stale: it is computed again when it is drawn)."""
        if self._weights_version() == self._for_version:
            self._raw_maps[key] = (raw_map, "")
        else:
            self.drop_if_weights_changed()

"""reshape= on a device without float64 (Apple's MPS): the token layout never asks for float64 on the layer's device.

No such device here, so a spy stands in for one: every tensor reports the device ``mps:0``, and each request to make
a tensor on it (a factory's ``device=`` or ``.to(device)``) is recorded with its dtype, then served on the CPU.
"""

from __future__ import annotations

import functools

import torch
from torch.overrides import TorchFunctionMode

from cam_utils import vit_reshape
from cam_utils.tokens import TokenLayout

PRETEND = torch.device("mps", 0)


class PretendDevice(TorchFunctionMode):
    """Every tensor says it lives on PRETEND; what is asked of PRETEND is recorded and run on the CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, torch.dtype | None]] = []  # (what, dtype) for each tensor made on PRETEND

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if getattr(func, "__self__", None) is torch.Tensor.device:
            return PRETEND  # Tensor.device, read
        if _is_pretend(kwargs.get("device")):
            kwargs["device"] = "cpu"
            self.requests.append((getattr(func, "__name__", str(func)), kwargs.get("dtype")))
        if getattr(func, "__name__", "") == "to":
            moved = [a for a in args[1:] if _is_pretend(a)]
            if moved:
                tensor = args[0]
                dtypes = [a for a in args[1:] if isinstance(a, torch.dtype)] + [kwargs.get("dtype")]
                dtype = next((d for d in dtypes if d is not None), tensor.dtype)
                self.requests.append(("to", dtype))
                args = (tensor, *[a for a in args[1:] if not _is_pretend(a)])
        return func(*args, **kwargs)


def _is_pretend(value: object) -> bool:
    return (isinstance(value, torch.device) and value.type == PRETEND.type) or (
        isinstance(value, str) and value.startswith(PRETEND.type)
    )


def test_the_spy_sees_a_float64_request_on_the_device():
    """The spy itself: it catches the request that used to be made (``arange(..., device=output.device, float64)``)."""
    output = torch.zeros(2, 3)
    with PretendDevice() as spy:
        assert output.device == PRETEND
        torch.arange(6, device=output.device, dtype=torch.float64)
        output.to(output.device)
    assert spy.requests == [("arange", torch.float64), ("to", torch.float32)]


def test_the_token_layout_asks_the_device_for_no_float64():
    output = torch.randn(2, 1 + 4 * 4, 8, generator=torch.Generator().manual_seed(0))  # class token + 4x4 patches
    reshape = functools.partial(vit_reshape, prefix_tokens=1)
    with PretendDevice() as spy:
        layout = TokenLayout.of(output, reshape, "blocks.0")
        rebuilt = layout.tokens_from(layout.feature_maps)
    assert spy.requests, "the layout puts its positions on the layer's device"
    assert all(dtype != torch.float64 for _, dtype in spy.requests), spy.requests
    # and the layout is still right: the map is the patch tokens, folded; the tokens come back unchanged
    assert torch.equal(layout.feature_maps, output[:, 1:].transpose(1, 2).reshape(2, 8, 4, 4))
    assert torch.equal(rebuilt, output)

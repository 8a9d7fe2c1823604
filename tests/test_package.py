"""The package's public surface: every advertised name imports and is documented."""

import importlib
import inspect

import pytest

import cam_utils


@pytest.mark.parametrize("name", cam_utils.__all__)
def test_every_public_name_imports_and_has_a_docstring(name: str) -> None:
    value = getattr(cam_utils, name)
    assert value is getattr(importlib.import_module(f"cam_utils.{cam_utils._PUBLIC_NAMES[name]}"), name)
    assert inspect.getdoc(value), f"cam_utils.{name} has no docstring"


def test_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'not_a_function'"):
        cam_utils.not_a_function  # noqa: B018

"""The package's public names: sorted, complete, importable."""

from __future__ import annotations

import inspect

import swarmredis
from swarmredis import errors


def test_all_is_sorted_and_importable() -> None:
    assert swarmredis.__all__ == sorted(swarmredis.__all__)
    for name in swarmredis.__all__:
        assert hasattr(swarmredis, name), name


def test_every_error_class_is_exported_with_an_exit_code() -> None:
    classes = {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, errors.SwarmRedisError)
    }
    assert classes <= set(swarmredis.__all__)
    for name in classes:
        assert getattr(errors, name).exit_code in (1, 2, 4)
    assert errors.DegradedError.exit_code == 1


def test_error_tree_docstring_names_every_error() -> None:
    doc = errors.__doc__ or ""
    for name, obj in vars(errors).items():
        if inspect.isclass(obj) and issubclass(obj, errors.SwarmRedisError):
            assert name in doc, f"{name} missing from the tree in errors.py"

"""The package's public names: sorted, complete, importable."""

from __future__ import annotations

import inspect
from pathlib import Path

import swarmredis
from swarmredis import errors

API = {
    # load a stack, plan, deploy, status, remove
    "Stack",
    "load_stack",
    "parse_stack",
    "DockerGateway",
    "CertStore",
    "DeployOptions",
    "Plan",
    "plan_stack",
    "DeployResult",
    "deploy",
    "HealthReport",
    "Problem",
    "ProblemKind",
    "Status",
    "status",
    "RemoveResult",
    "remove_stack",
    # events
    "Event",
    "Reporter",
    "__version__",
}


def test_all_is_sorted_and_importable() -> None:
    assert swarmredis.__all__ == sorted(swarmredis.__all__)
    for name in swarmredis.__all__:
        assert hasattr(swarmredis, name), name


def test_the_public_api_is_exactly_the_curated_names_and_the_errors() -> None:
    error_names = {n for n in swarmredis.__all__ if n.endswith("Error") or n in _ODD_ERRORS}
    assert set(swarmredis.__all__) - error_names == API
    assert all(issubclass(getattr(swarmredis, n), errors.SwarmRedisError) for n in error_names)


_ODD_ERRORS = {
    "DeployTimeout",
    "LockHeld",
    "TopologyChangeRefused",
    "RotationStopped",
    "DowntimeRefused",
    "PreflightFailed",
    "DockerUnreachable",
    "NotAManager",
    "NotInSwarm",
    "ObjectNotFound",
    "RedisHandshakeClosed",
    "RedisUnreachable",
}


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        swarmredis.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("swarmredis.no_such_name resolved")


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


def error_tree() -> list[str]:
    """The tree drawn in errors.py's docstring, without its indentation."""
    lines = (errors.__doc__ or "").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("SwarmRedisError"))
    end = next(i for i, line in enumerate(lines) if "DegradedError" in line)
    return [line.removeprefix("    ") for line in lines[start : end + 1]]


def test_the_architecture_doc_draws_the_same_error_tree_as_errors_py() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    tree = error_tree()
    assert len(tree) > 10
    assert "\n".join(tree) in doc, "docs/architecture.md: copy the tree from errors.py"

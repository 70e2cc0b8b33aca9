"""Runner of the data-driven planner cases in tests/cases/<case>/.

Each case folder holds:

- ``stack.yaml``: the stack file to plan.
- ``observed.json``: ``nodes`` (raw ``GET /nodes`` items) and, for the cases
  recorded from a real lab deploy by ``scripts/record-cases``, ``objects`` (the
  stack's raw networks, secrets, configs and services by kind, as the Docker API
  returned them, volatile fields stripped) and ``material`` (logical secret name
  -> base64 bytes the deploy gave its secrets). Cases without ``material`` plan
  from nothing deployed and get distinct made-up bytes per secret.
- ``options.json`` (optional): ``allow_colocation``, ``prune``, ``material``
  (``"all"`` default, or ``"none"`` when no certificates exist yet).
- ``expected.json``: ``assignment`` (logical node -> hostname), ``changes``,
  ``actions`` (action -> sorted ``kind:logical`` list), ``fields`` (update
  ``kind:logical`` -> spec paths), ``warnings`` (substrings), ``hashes``
  (``kind:logical`` -> the spec hash of every desired object, written out; required
  for recorded cases), ``error`` (substring of the ``PlacementError``), or ``refused``
  (substring of the ``TopologyChangeRefused`` that ``plan`` and ``deploy`` raise before
  placing anything: services whose labels are not one stack's).

The cases plan as ``plan`` does: the layout of a live stack is read from its services
(``plan.seating``), so a recorded stack plans on its nodes' own names, roles and ports.

Nothing here runs the planner to build an input or an expectation: see
tests/cases/README.md.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from swarmredis.errors import PlacementError, TopologyChangeRefused
from swarmredis.plan import (
    desired_state,
    diff,
    observed_objects,
    place,
    previous_assignment,
    required_material,
    swarm_node,
)
from swarmredis.plan.seating import seating
from swarmredis.stackfile import Stack, load_stack

CASES = Path(__file__).resolve().parents[1] / "cases"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "expected.json").is_file())


def fake_material(stack: Stack) -> dict[str, bytes]:
    """Material as bytes for cases with nothing deployed: each name gets distinct bytes."""
    return {name: f"{name} of {stack.name}\n".encode() for name in required_material(stack)}


def load_case(
    name: str,
) -> tuple[Stack, list[Any], list[Any], dict[str, bytes], dict[str, Any], dict[str, Any]]:
    """The inputs and expectations of one case folder, read as they are written."""
    folder = CASES / name
    stack = load_stack(folder / "stack.yaml")
    observed = json.loads((folder / "observed.json").read_text())
    options_file = folder / "options.json"
    options = json.loads(options_file.read_text()) if options_file.is_file() else {}
    expected = json.loads((folder / "expected.json").read_text())
    objects = list(observed_objects(observed.get("objects", {})))
    nodes = [swarm_node(n) for n in observed["nodes"]]
    if options.get("material") == "none":
        material: dict[str, bytes] = {}
    elif "material" in observed:
        material = {k: base64.b64decode(v) for k, v in observed["material"].items()}
    else:
        material = fake_material(stack)
    return stack, nodes, objects, material, options, expected


def summary(actions: Sequence[Any]) -> dict[str, list[str]]:
    """action -> sorted ``kind:logical`` of the plan's items."""
    out: dict[str, list[str]] = {}
    for change in actions:
        out.setdefault(change.action, []).append(f"{change.kind}:{change.logical}")
    return {action: sorted(items) for action, items in sorted(out.items())}


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case(name: str) -> None:
    stack, nodes, objects, material, options, expected = load_case(name)
    colocate = options.get("allow_colocation", False)
    if "refused" in expected:
        with pytest.raises(TopologyChangeRefused) as refused:
            seating(stack, objects)
        assert expected["refused"] in refused.value.message
        return
    layout = seating(stack, objects).layout
    run = lambda: desired_state(  # noqa: E731
        stack,
        place(stack, nodes, previous_assignment(objects), colocate, layout),
        material,
        layout,
    )
    if "error" in expected:
        with pytest.raises(PlacementError) as caught:
            run()
        assert expected["error"] in str(caught.value)
        return
    plan = diff(run(), objects, prune=options.get("prune", False))
    hostnames = plan.desired.assignment.hostnames
    assert dict(hostnames) == expected["assignment"]
    assert summary(plan.items) == expected["actions"]
    assert plan.changes == expected["changes"]
    fields = {f"{c.kind}:{c.logical}": list(c.fields) for c in plan.by_action("update")}
    assert fields == expected.get("fields", {})
    for text in expected.get("warnings", []):
        assert any(text in w for w in plan.desired.warnings), (text, plan.desired.warnings)
    if not expected.get("warnings"):
        assert plan.desired.warnings == ()
    if "hashes" in expected:
        hashes = {f"{c.kind}:{c.logical}": c.desired.spec_hash for c in plan.items if c.desired}
        assert hashes == expected["hashes"]
    json.dumps(plan.to_dict())  # JSON-serialisable


def test_there_are_cases() -> None:
    assert len(CASE_NAMES) >= 10


@pytest.mark.parametrize("name", CASE_NAMES)
def test_recorded_cases_expect_literal_hashes(name: str) -> None:
    observed = json.loads((CASES / name / "observed.json").read_text())
    expected = json.loads((CASES / name / "expected.json").read_text())
    if "objects" in observed:
        assert observed["recorded"]["by"] == "scripts/record-cases"
        assert "material" in observed
        assert expected.get("hashes") or expected.get("refused"), name

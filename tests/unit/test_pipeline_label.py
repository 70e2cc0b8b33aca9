"""A pipeline's commands as an error message names them: repeats counted (pure)."""

from __future__ import annotations

from swarmredis.gateway.redis import _pipeline_label


def test_repeated_commands_are_counted_in_order() -> None:
    labels = ["CLUSTER SETSLOT", *["MIGRATE"] * 64, "CLUSTER SETSLOT"]
    assert _pipeline_label(labels) == "CLUSTER SETSLOT + 64 x MIGRATE + CLUSTER SETSLOT"
    assert _pipeline_label(["GET", "SET"]) == "GET + SET"
    assert _pipeline_label([]) == ""

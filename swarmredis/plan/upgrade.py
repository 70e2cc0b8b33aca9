"""An image change checked before the first restart (pure): a probe job runs the new
image on every eligible host and reports the major version of its ``redis-server``.

The probe needs only ``sh`` (its builtins) and what the stack needs anyway:
``redis-server`` and ``redis-cli``. It answers through its exit code, which Swarm keeps
in the task's status (``task: non-zero exit (17)``): the major version plus 10, or one
of the codes below. A host that does not have the image rejects the task (Swarm cannot
pull it where no registry is reachable).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from swarmredis.plan.jobs import shell_job
from swarmredis.plan.tasks import Task, by_node, newest

NO_SERVER, NO_CLI, NO_VERSION = 100, 101, 102
OFFSET = 10
PROBE = (
    f"command -v redis-cli >/dev/null 2>&1 || exit {NO_CLI}; "
    f"v=$(redis-server --version 2>/dev/null) || exit {NO_SERVER}; "
    'v=${v#*v=}; m=${v%%.*}; case $m in ""|*[!0-9]*) exit '
    f"{NO_VERSION};; esac; exit $((m + {OFFSET}))"
)
_EXIT = re.compile(r"exit \((\d+)\)")
IMAGE_FIELD = "TaskTemplate.ContainerSpec.Image"


def probe_job(stack: str, image: str, constraints: Sequence[str]) -> dict[str, Any]:
    """A GlobalJob that runs ``image``'s ``redis-server --version`` on every host the
    stack may use."""
    return shell_job(stack, "image-probe", image, PROBE, constraints)


def probe_outcomes(
    tasks: Sequence[Task], hostnames: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """One (host, state, words) per host: the task that ran the probe to its exit code,
    else the newest that was rejected. The probe always exits non-zero, and Swarm starts
    a job's failed task again: a host's newest task is often a new one, still pending."""
    out = []
    for node_id, own in by_node(tasks).items():
        ran = [t for t in own if t.state in ("failed", "complete") and _EXIT.search(t.words)]
        rejected = [t for t in own if t.state == "rejected"]
        task = ran[0] if ran else newest(rejected) or newest(own)
        assert task is not None
        out.append((hostnames.get(node_id, node_id), task.state, task.words or task.state))
    return sorted(out)


def probe_answer(state: str, words: str, image: str, host: str) -> int | str:
    """The major version a host's probe task reports, or what is wrong, for people."""
    found = _EXIT.search(words)
    code = int(found.group(1)) if found else None
    if state == "rejected" or code is None:
        return f"{host} cannot run the image {image} ({words}): load it there (docker load)"
    if code == NO_SERVER:
        return f"{host}: the image {image} has no working redis-server"
    if code == NO_CLI:
        return f"{host}: the image {image} has no redis-cli (the health check needs it)"
    if code == NO_VERSION or code < OFFSET:
        return f"{host}: cannot read the version of redis-server in {image} ({words})"
    return code - OFFSET


def major_of(version: str) -> int | None:
    """``7`` of ``7.0.15`` (``None`` when it is not a version)."""
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None

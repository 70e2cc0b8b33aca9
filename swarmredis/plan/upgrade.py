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
from collections.abc import Sequence
from typing import Any

from swarmredis import labels

NO_SERVER, NO_CLI, NO_VERSION = 100, 101, 102
OFFSET = 10
_PROBE = (
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
    return {
        "Name": f"{stack}_image-probe",
        "Labels": {labels.MANAGED: "true", labels.STACK: stack, labels.KIND: "image-probe"},
        "TaskTemplate": {
            "ContainerSpec": {"Image": image, "Command": ["sh", "-c", _PROBE]},
            "Placement": {"Constraints": list(constraints)},
            "RestartPolicy": {"Condition": "none"},
        },
        "Mode": {"GlobalJob": {}},
    }


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

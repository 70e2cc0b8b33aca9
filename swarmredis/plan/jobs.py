"""Bodies of the short Swarm jobs the engine runs, and how to read their outcome (pure).

Swarm's API cannot reach a volume on another host, so work on every host (emptying the
stack's volumes for ``rm --volumes``) runs as a ``GlobalJob`` service: one task per
eligible host, run to completion once.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swarmredis import labels
from swarmredis.plan.tasks import Task, by_node, newest

# Only sh (its builtins: command, for, [, exit) and rm: a stack's image may have nothing
# else. rm is checked first (exit 3: missing), and whatever a volume still holds after
# it fails the job (exit 5), so "complete" means empty.
WIPE_NO_RM, WIPE_LEFT = 3, 5
_WIPE = (
    f"command -v rm >/dev/null || exit {WIPE_NO_RM}; "
    'for v in /v/*; do rm -rf "$v"/* "$v"/.[!.]* "$v"/..?*; '
    'for f in "$v"/* "$v"/.[!.]* "$v"/..?*; do '
    f'if [ -e "$f" ]; then echo "left: $f"; exit {WIPE_LEFT}; fi; done; done'
)


@dataclass(frozen=True)
class VolumeSet:
    """What rm must know to empty a stack's volumes without its services."""

    names: tuple[str, ...]
    image: str
    constraints: tuple[str, ...] = ()
    retired: tuple[int, ...] = ()  # node indices a lower count retired: never given again

    def merged(self, other: VolumeSet | None) -> VolumeSet:
        """Both sets' volumes and retired indices; this set's image and constraints first."""
        if other is None:
            return self
        return VolumeSet(
            tuple(sorted({*self.names, *other.names})),
            self.image or other.image,
            self.constraints or other.constraints,
            tuple(sorted({*self.retired, *other.retired})),
        )


# The record of a stack's volumes: a Swarm config that carries none of the stack's own
# labels, so that `docker stack rm` leaves it, and `rm NAME --volumes` still knows what
# to empty after the services are gone.
RECORD_OF = f"{labels.PREFIX}.volumes-of"  # the stack
# JSON: {"names": [...], "image": ..., "constraints": [...], "retired": [node indices]}
RECORD = f"{labels.PREFIX}.volumes"


def record_name(stack: str) -> str:
    return f"swarmredis-volumes-{stack}"


def record_labels(stack: str, volumes: VolumeSet) -> dict[str, str]:
    value: dict[str, Any] = {"names": list(volumes.names), "image": volumes.image}
    value["constraints"] = list(volumes.constraints)
    if volumes.retired:
        value["retired"] = list(volumes.retired)
    return {RECORD_OF: stack, RECORD: json.dumps(value, sort_keys=True)}


def record_body(stack: str, volumes: VolumeSet) -> dict[str, Any]:
    """The API body of a new record."""
    found = record_labels(stack, volumes)
    return {
        "Name": record_name(stack),
        "Labels": found,
        "Data": base64.b64encode(found[RECORD].encode()).decode(),
    }


def recorded_volumes(config: Mapping[str, Any]) -> VolumeSet | None:
    """The VolumeSet a record holds (None if it is not one, or unreadable)."""
    found = (config.get("Spec") or {}).get("Labels") or {}
    try:
        value = json.loads(found[RECORD])
        names = tuple(sorted(str(n) for n in value["names"]))
        image, constraints = str(value["image"]), tuple(str(c) for c in value["constraints"])
        retired = tuple(sorted(int(i) for i in value.get("retired", ())))
    except (KeyError, TypeError, ValueError):
        return None
    return VolumeSet(names, image, constraints, retired) if names else None


def volumes_of(services: Sequence[Mapping[str, Any]]) -> VolumeSet | None:
    """The named volumes, image and stack constraints of a stack's services."""
    names: set[str] = set()
    image = ""
    constraints: tuple[str, ...] = ()
    for service in services:
        task = (service.get("Spec") or {}).get("TaskTemplate") or {}
        container = task.get("ContainerSpec") or {}
        image = image or str(container.get("Image", ""))
        names.update(
            str(m["Source"]) for m in container.get("Mounts") or [] if m.get("Type") == "volume"
        )
        constraints = constraints or tuple(
            c
            for c in (task.get("Placement") or {}).get("Constraints") or []
            if not str(c).replace(" ", "").startswith("node.id==")
        )
    if not names:
        return None
    return VolumeSet(tuple(sorted(names)), image, constraints)


def shell_job(
    stack: str, kind: str, image: str, script: str, constraints: Sequence[str]
) -> dict[str, Any]:
    """A GlobalJob named ``<stack>_<kind>`` that runs ``sh -c script`` in ``image`` once on
    every host that meets ``constraints`` (never restarted: its outcome is its exit)."""
    return {
        "Name": f"{stack}_{kind}",
        "Labels": {labels.MANAGED: "true", labels.STACK: stack, labels.KIND: kind},
        "TaskTemplate": {
            "ContainerSpec": {"Image": image, "Command": ["sh", "-c", script]},
            "Placement": {"Constraints": list(constraints)},
            "RestartPolicy": {"Condition": "none"},
        },
        "Mode": {"GlobalJob": {}},
    }


def wipe_job(stack: str, volumes: VolumeSet) -> dict[str, Any]:
    """A GlobalJob that empties every volume of the stack on every eligible host."""
    return {
        "Name": f"{stack}_wipe-volumes",
        "Labels": {labels.MANAGED: "true", labels.STACK: stack, labels.KIND: "wipe-job"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": volumes.image,
                "Command": ["sh", "-c", _WIPE],
                "User": "0:0",  # files in the volumes may belong to any uid
                "Mounts": [
                    {"Type": "volume", "Source": name, "Target": f"/v/{name}"}
                    for name in volumes.names
                ],
            },
            "Placement": {"Constraints": list(volumes.constraints)},
            "RestartPolicy": {"Condition": "none"},
        },
        "Mode": {"GlobalJob": {}},
    }


def job_outcomes(tasks: Sequence[Task], hostnames: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """One (host, state, why) per host: ``complete`` if any of its tasks completed, else
    its newest failure (Swarm re-creates rejected job tasks, so a host may have many)."""
    out = []
    for node_id, own in by_node(tasks).items():
        done = [t for t in own if t.state == "complete"]
        task = done[0] if done else newest(own)
        assert task is not None
        out.append((hostnames.get(node_id, node_id), task.state, task.words or task.state))
    return sorted(out)


def wipe_failure(why: str, image: str) -> str:
    """What a failed wipe task's words mean, for people."""
    if why.endswith(f"exit ({WIPE_NO_RM})"):
        return (
            f"the image {image} has no rm, which the wipe job needs (with sh): "
            "empty the volumes with `docker volume rm` on that host, or use an image with rm"
        )
    if why.endswith(f"exit ({WIPE_LEFT})"):
        return f"a volume still held files after rm ({why}): see `docker volume inspect`"
    return why


def job_settled(tasks: Sequence[Task]) -> bool:
    """Every host with a task has completed it or failed at least once."""
    states = {node: {t.state for t in own} for node, own in by_node(tasks).items()}
    return bool(states) and all(s & {"complete", "failed", "rejected"} for s in states.values())

"""The stack as a compose file (version 3.8) for ``docker stack deploy`` (pure).

For teams that keep their Swarm stacks in Git: ``swarmredis render`` writes the services
of the plan in compose form; the network, secrets and configs are declared ``external``
(``swarmredis secrets push`` creates them, exactly as ``deploy`` would), so the file holds
no key and no password. ``docker stack deploy -c FILE STACK`` then creates the services,
and ``swarmredis deploy`` adopts them: it compares each service field by field
(``plan.diff.changed_paths``), sets what compose could not express, bootstraps and checks
health; ``plan`` then says the stack matches.

How the Docker CLI converts a compose service (docker/cli ``cli/compose/convert``,
20.10 and 28 alike), and what that means for the adoption:

- ``DNSConfig.Options`` has no compose key (the CLI writes nameservers and search domains
  only), so the services come up without ``timeout:1 attempts:1``: the adoption restarts
  each one with them, before its bootstrap (the nodes hold no data yet).
- the CLI adds the compose service's own name to its network aliases, sorts secrets and
  configs by name, and labels everything with ``com.docker.stack.namespace`` (which
  swarmredis's objects carry already).
- every ``$`` is doubled: the CLI interpolates ``$VAR`` in the whole file, and the health
  check's shell script is full of them.

The spec-hash label is left out on purpose: a service made by the CLI is not byte for
byte what swarmredis would have made, and the hash would make ``plan`` say it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from swarmredis import labels
from swarmredis.plan.diff import Plan
from swarmredis.plan.objects import DesiredObject

VERSION = "3.8"
_SECOND = 1_000_000_000
_MILLI = 1_000_000
# ServiceSpec fields a rendered service carries; anything else in a spec is refused, so a
# field the planner starts writing cannot be dropped from the file without a test noticing
_CONTAINER_FIELDS = frozenset(
    {
        "Image",
        "Labels",
        "Hostname",
        "User",
        "Init",
        "ReadOnly",
        "CapabilityDrop",
        "Sysctls",
        "Mounts",
        "Secrets",
        "Configs",
        "Healthcheck",
        "DNSConfig",
        "StopGracePeriod",
        "Args",
        "Command",
    }
)
_TASK_FIELDS = frozenset({"ContainerSpec", "Resources", "RestartPolicy", "Placement", "Networks"})
_SERVICE_FIELDS = frozenset(
    {"Name", "Labels", "TaskTemplate", "Mode", "UpdateConfig", "EndpointSpec"}
)


class NotRenderable(ValueError):
    """A planned object has something compose cannot say (a programming error: the
    planner writes a field this module does not know)."""


@dataclass(frozen=True)
class Rendered:
    """The compose document, and what ``swarmredis deploy`` will set when it adopts the
    services made from it (``docker stack deploy`` cannot)."""

    document: dict[str, Any]
    adopted_later: tuple[str, ...]


def render_compose(plan: Plan) -> Rendered:
    """The plan's services as a compose document; every other object ``external``.

    The plan must have its material (no ``pending`` object): the secret and config
    names carry their contents' digests."""
    desired = plan.desired
    missing = [o.logical for o in desired.objects() if o.pending]
    if missing:
        raise NotRenderable(f"material missing for: {', '.join(sorted(set(missing)))}")
    stack = desired.stack.name
    document: dict[str, Any] = {"version": VERSION, "services": {}}
    networks: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    configs: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    later: set[str] = set()
    retiring = {c.name for c in plan.retiring}
    for obj in desired.services:
        if obj.name in retiring:
            continue  # retires at the next deploy: not part of the stack any more
        key, service = _service(stack, obj, networks, secrets, configs, volumes, later)
        document["services"][key] = service
    for name, block in (
        ("networks", networks),
        ("volumes", volumes),
        ("secrets", secrets),
        ("configs", configs),
    ):
        if block:
            document[name] = block
    if document["services"]:
        later.add(
            "the CLI's own forms (its service name as an extra network alias, secrets "
            "sorted by name): each service restarts once, before its bootstrap"
        )
    return Rendered(_escaped(document), tuple(sorted(later)))


def _service(
    stack: str,
    obj: DesiredObject,
    networks: dict[str, Any],
    secrets: dict[str, Any],
    configs: dict[str, Any],
    volumes: dict[str, Any],
    later: set[str],
) -> tuple[str, dict[str, Any]]:
    spec = obj.spec
    assert spec is not None
    _known(obj, spec, _SERVICE_FIELDS, "")
    task = spec["TaskTemplate"]
    _known(obj, task, _TASK_FIELDS, "TaskTemplate.")
    container = task["ContainerSpec"]
    _known(obj, container, _CONTAINER_FIELDS, "TaskTemplate.ContainerSpec.")
    prefix = f"{stack}_"
    if not str(spec["Name"]).startswith(prefix):
        raise NotRenderable(f"{spec['Name']}: not named {prefix}<node>, as the CLI names it")
    key = str(spec["Name"])[len(prefix) :]
    out: dict[str, Any] = {"image": container["Image"]}
    if "Command" in container:
        out["entrypoint"] = list(container["Command"])
    if "Args" in container:
        out["command"] = list(container["Args"])
    for field, name in (
        ("Hostname", "hostname"),
        ("User", "user"),
        ("Init", "init"),
        ("ReadOnly", "read_only"),
    ):
        if field in container:
            out[name] = container[field]
    if "CapabilityDrop" in container:
        out["cap_drop"] = list(container["CapabilityDrop"])
    if "Sysctls" in container:
        out["sysctls"] = dict(container["Sysctls"])
    if "Labels" in container:
        out["labels"] = dict(container["Labels"])
    if "StopGracePeriod" in container:
        out["stop_grace_period"] = _duration(container["StopGracePeriod"])
    if "Healthcheck" in container:
        out["healthcheck"] = _healthcheck(container["Healthcheck"])
    dns = container.get("DNSConfig") or {}
    if set(dns) - {"Options"}:
        raise NotRenderable(f"{obj.name}: DNSConfig {sorted(dns)}: only Options is rendered")
    if dns.get("Options"):
        later.add(f"DNS options {' '.join(dns['Options'])} (no compose key)")
    out["volumes"] = [_mount(m, volumes) for m in container.get("Mounts") or ()]
    out["secrets"] = [_file_ref(r, "SecretName", secrets) for r in container.get("Secrets") or ()]
    out["configs"] = [_file_ref(r, "ConfigName", configs) for r in container.get("Configs") or ()]
    out["networks"] = _networks(task.get("Networks") or (), networks)
    ports = (spec.get("EndpointSpec") or {}).get("Ports") or ()
    if ports:
        out["ports"] = [_port(p) for p in ports]
    out["deploy"] = _deploy(spec, task)
    return key, {k: v for k, v in out.items() if v != []}


def _known(obj: DesiredObject, body: Mapping[str, Any], fields: frozenset[str], at: str) -> None:
    unknown = sorted(set(body) - fields)
    if unknown:
        raise NotRenderable(f"{obj.name}: no compose form for {', '.join(at + u for u in unknown)}")


def _deploy(spec: Mapping[str, Any], task: Mapping[str, Any]) -> dict[str, Any]:
    replicas = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas")
    if replicas is None:
        raise NotRenderable(f"{spec['Name']}: only replicated services are rendered")
    deploy: dict[str, Any] = {"mode": "replicated", "replicas": replicas}
    endpoint = (spec.get("EndpointSpec") or {}).get("Mode")
    if endpoint:
        deploy["endpoint_mode"] = endpoint
    deploy["labels"] = {
        k: v for k, v in (spec.get("Labels") or {}).items() if k != labels.SPEC_HASH
    }
    limits = (task.get("Resources") or {}).get("Limits") or {}
    rendered: dict[str, Any] = {}
    if "MemoryBytes" in limits:
        rendered["memory"] = str(limits["MemoryBytes"])  # bytes: the CLI reads a plain number
    if "NanoCPUs" in limits:
        rendered["cpus"] = _cpus(limits["NanoCPUs"])
    if rendered:
        deploy["resources"] = {"limits": rendered}
    restart = task.get("RestartPolicy") or {}
    if restart:
        deploy["restart_policy"] = {
            "condition": restart["Condition"],
            "delay": _duration(restart["Delay"]),
            "max_attempts": restart["MaxAttempts"],
        }
    constraints = (task.get("Placement") or {}).get("Constraints") or ()
    if constraints:
        deploy["placement"] = {"constraints": list(constraints)}
    update = spec.get("UpdateConfig") or {}
    if update:
        deploy["update_config"] = {
            "parallelism": update["Parallelism"],
            "delay": _duration(update["Delay"]),
            "failure_action": update["FailureAction"],
            "monitor": _duration(update["Monitor"]),
            "order": update["Order"],
        }
    return deploy


def _cpus(nano: int) -> str:
    """NanoCPUs as the decimal the CLI multiplies back by 1e9 (``0.5`` -> 500000000)."""
    text = f"{nano / _SECOND:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def _healthcheck(check: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "test": list(check["Test"]),
        "interval": _duration(check["Interval"]),
        "timeout": _duration(check["Timeout"]),
        "retries": check["Retries"],
        "start_period": _duration(check["StartPeriod"]),
    }


def _duration(nanoseconds: int) -> str:
    """A Go duration the CLI parses back to the same nanoseconds."""
    if nanoseconds % _SECOND == 0:
        return f"{nanoseconds // _SECOND}s"
    if nanoseconds % _MILLI == 0:
        return f"{nanoseconds // _MILLI}ms"
    return f"{nanoseconds}ns"


def _mount(mount: Mapping[str, Any], volumes: dict[str, Any]) -> dict[str, Any]:
    if mount.get("Type") != "volume":
        raise NotRenderable(f"mount {mount.get('Target')}: only named volumes are rendered")
    source = str(mount["Source"])
    own = {
        k: v
        for k, v in ((mount.get("VolumeOptions") or {}).get("Labels") or {}).items()
        if k != labels.STACK_NAMESPACE  # the CLI adds it
    }
    volumes[source] = {"name": source, **({"labels": own} if own else {})}
    return {"type": "volume", "source": source, "target": mount["Target"]}


def _file_ref(ref: Mapping[str, Any], name_key: str, block: dict[str, Any]) -> dict[str, Any]:
    name = str(ref[name_key])
    block[name] = {"external": True, "name": name}
    file = ref["File"]
    return {
        "source": name,
        "target": file["Name"],
        "uid": str(file["UID"]),
        "gid": str(file["GID"]),
        "mode": int(file["Mode"]),
    }


def _networks(attachments: Any, networks: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attachment in attachments:
        target = str(attachment["Target"])
        networks[target] = {"external": True, "name": target}
        aliases = list(attachment.get("Aliases") or ())
        out[target] = {"aliases": aliases} if aliases else None
    return out


def _port(port: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "target": port["TargetPort"],
        "published": port["PublishedPort"],
        "protocol": port["Protocol"],
        "mode": port["PublishMode"],
    }


def _escaped(value: Any) -> Any:
    """Every string with ``$`` doubled: the CLI interpolates variables in the whole file."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value

"""Which service changes are live (pure): a Redis node whose redis.conf changes only in
its live settings (plan/liveconf.py) keeps its config object, so that Swarm does not
restart it, and its change is ``live``: ``CONFIG SET``, not a rolling restart.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from swarmredis import labels
from swarmredis.plan.liveconf import decode, describe, removed
from swarmredis.plan.objects import DesiredObject, finish
from swarmredis.plan.observe import ObservedObject
from swarmredis.plan.state import DesiredState

LIVE_FIELD = f"Labels.{labels.CONFIG_LIVE}"


def config_name(spec: Mapping[str, Any]) -> str | None:
    """The name of the (one) config a service spec mounts."""
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    refs = container.get("Configs") or []
    return str(refs[0].get("ConfigName")) if refs else None


def keep_configs(desired: DesiredState, observed: Sequence[ObservedObject]) -> DesiredState:
    """``desired`` with each Redis node whose static settings are those it runs keeping
    the config object it runs: only the ``config-live`` label tells its live values. A
    node whose stack file no longer sets one of its live settings gets a new config."""
    services = {o.logical: o for o in observed if o.kind == "service"}
    configs = {o.name: o for o in observed if o.kind == "config"}
    new_configs, new_services = list(desired.configs), list(desired.services)
    for index, want in enumerate(desired.services):
        have = services.get(want.logical)
        if want.spec is None or have is None:
            continue
        static = (want.spec.get("Labels") or {}).get(labels.CONFIG_STATIC)
        used = config_name(have.spec)
        if static is None or have.labels.get(labels.CONFIG_STATIC) != static:
            continue
        if used is None or used == config_name(want.spec) or used not in configs:
            continue
        now, then = (decode(o.get(labels.CONFIG_LIVE)) for o in (have.labels, want.spec["Labels"]))
        if removed(now, then):
            # Redis cannot be told "back to your default": a setting that is no longer set
            # takes a new config and a restart (its live file rewritten first)
            continue
        kept = configs[used]
        logical = desired.configs[index].logical
        new_configs[index] = DesiredObject("config", kept.name, logical, kept.spec, kept.spec_hash)
        new_services[index] = _with_config(want, used)
    return replace(desired, configs=tuple(new_configs), services=tuple(new_services))


def _with_config(service: DesiredObject, name: str) -> DesiredObject:
    assert service.spec is not None
    spec: dict[str, Any] = copy.deepcopy(dict(service.spec))
    spec["TaskTemplate"]["ContainerSpec"]["Configs"][0]["ConfigName"] = name
    spec["Labels"] = {k: v for k, v in spec["Labels"].items() if k != labels.SPEC_HASH}
    return finish("service", service.name, service.logical, spec)


def live_changes(want: DesiredObject, have: ObservedObject) -> tuple[str, ...]:
    """The live settings a change of a node that keeps its config sets
    (``maxmemory 1 -> 2``), if any."""
    wanted = (want.spec or {}).get("Labels") or {}
    static = wanted.get(labels.CONFIG_STATIC)
    if static is None or have.labels.get(labels.CONFIG_STATIC) != static:
        return ()  # another config: it brings its values with it
    new = decode(wanted.get(labels.CONFIG_LIVE))
    return tuple(describe(decode(have.labels.get(labels.CONFIG_LIVE)), new))


def live_only(fields: Sequence[str]) -> bool:
    """Whether a service's differing spec paths are only its live settings' label."""
    return bool(fields) and set(fields) == {LIVE_FIELD}

"""Live configuration (pure): the redis.conf settings that change without a restart.

A Redis node's redis.conf is a Swarm config, and Swarm restarts a task whenever its
service's task template changes, a new config included. So a change of live settings
alone (``LIVE_KEYS``) keeps the node's config object as it is, and:

1. the engine writes the new values to ``/data/live-<static digest>.conf`` in the
   node's volume (a short Swarm job on its host, ``live_job``);
2. sets them with ``CONFIG SET`` and reads them back with ``CONFIG GET``;
3. records them in the service's ``config-live`` label: a service-level label, which
   Swarm changes without touching the task.

redis.conf ends with ``include /data/live-<digest>*.conf``: a pattern, which Redis 7
skips when nothing matches, so a restart keeps the live values and a node without live
changes needs no file. The digest is that of the config without its live settings
(``config-static`` label): a change to anything else makes a new config, a new digest,
and leaves the old file unread.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from swarmredis import labels

DATA_DIR = "/data"
# Settings Redis 7 changes at run time without side effects on the data or the
# node's identity (tests/peers/test_live_config.py sets each on a real redis-server).
# Left out on purpose: anything swarmredis manages (ports, TLS, persistence, cluster),
# settings with several lines or normalised values (client-output-buffer-limit,
# notify-keyspace-events), and those Redis refuses at run time (io-threads, databases).
LIVE_KEYS = frozenset(
    {
        "maxmemory",
        "maxmemory-policy",
        "maxmemory-samples",
        "maxmemory-eviction-tenacity",
        "maxclients",
        "timeout",
        "tcp-keepalive",
        "hz",
        "dynamic-hz",
        "slowlog-log-slower-than",
        "slowlog-max-len",
        "latency-monitor-threshold",
        "latency-tracking",
        "lazyfree-lazy-eviction",
        "lazyfree-lazy-expire",
        "lazyfree-lazy-server-del",
        "lazyfree-lazy-user-del",
        "lazyfree-lazy-user-flush",
        "replica-lazy-flush",
        "active-expire-effort",
        "activedefrag",
        "active-defrag-ignore-bytes",
        "active-defrag-threshold-lower",
        "active-defrag-threshold-upper",
        "active-defrag-cycle-min",
        "active-defrag-cycle-max",
        "activerehashing",
        "hash-max-listpack-entries",
        "hash-max-listpack-value",
        "list-max-listpack-size",
        "list-compress-depth",
        "set-max-intset-entries",
        "zset-max-listpack-entries",
        "zset-max-listpack-value",
        "stream-node-max-bytes",
        "stream-node-max-entries",
        "lfu-log-factor",
        "lfu-decay-time",
        "busy-reply-threshold",
        "repl-backlog-size",
        "repl-timeout",
        "min-replicas-to-write",
        "min-replicas-max-lag",
        "proto-max-bulk-len",
        "client-query-buffer-limit",
        "tracking-table-max-keys",
    }
)
# Redis's sizes (util.c memtoull): "k" is 1000, "kb" 1024, "m" a million, "mb" 1024^2, ...
_SIZE = re.compile(r"([0-9]+)(b|[kmg]b?)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2}
_UNITS |= {"g": 1000**3, "gb": 1024**3}


def line_key(line: str) -> str:
    """The directive a redis.conf line sets ('' for blanks and comments)."""
    words = line.split(None, 1)
    return words[0].lower() if words and not words[0].startswith("#") else ""


def static_digest(static_lines: Sequence[str]) -> str:
    """Digest of a redis.conf without its live settings (16 hex digits)."""
    return hashlib.sha256("\n".join(static_lines).encode()).hexdigest()[:16]


def live_file(digest: str) -> str:
    """Where a node with this static digest keeps its live settings."""
    return f"{DATA_DIR}/live-{digest}.conf"


def arrange(lines: Sequence[str]) -> tuple[str, str, dict[str, str]]:
    """The redis.conf text of ``lines``: static lines, live lines, then the include of the
    live file; with the static digest and the live values."""
    static = [line for line in lines if line_key(line) not in LIVE_KEYS]
    live = {
        line_key(line): line.split(None, 1)[1].strip()
        for line in lines
        if line_key(line) in LIVE_KEYS
    }
    digest = static_digest(static)
    text = [*static, *(f"{key} {value}" for key, value in live.items())]
    # a pattern: Redis 7 skips an include whose pattern matches no file
    text.append(f"include {DATA_DIR}/live-{digest}*.conf")
    return "\n".join(text) + "\n", digest, live


def live_labels(digest: str, values: Mapping[str, str]) -> dict[str, str]:
    """The service labels recording a node's static digest and live values."""
    return {labels.CONFIG_STATIC: digest, labels.CONFIG_LIVE: encode(values)}


def encode(values: Mapping[str, str]) -> str:
    """Canonical JSON of live values (a label value)."""
    return json.dumps(dict(sorted(values.items())), separators=(",", ":"))


def decode(text: str | None) -> dict[str, str]:
    """Live values from a label ({} when absent or unreadable)."""
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def changed(old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str]:
    """The live values of ``new`` that differ from ``old``."""
    return {key: value for key, value in new.items() if old.get(key) != value}


def removed(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """The live settings ``old`` has and ``new`` does not (back to Redis's default)."""
    return sorted(set(old) - set(new))


def describe(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """``maxmemory 402653184 -> 268435456`` for each changed value, ``hz 20 -> (default)``
    for each one no longer set."""
    out = [
        f"{key} {old.get(key, '(default)')} -> {value}" for key, value in changed(old, new).items()
    ]
    return out + [f"{key} {old[key]} -> (default)" for key in removed(old, new)]


def same_value(wanted: str, got: str) -> bool:
    """Whether ``CONFIG GET`` answered ``got`` for a setting written as ``wanted``:
    Redis answers sizes in bytes (``1mb`` -> ``1048576``, ``1m`` -> ``1000000``) and
    words in lower case."""
    if " ".join(wanted.lower().split()) == " ".join(got.lower().split()):
        return True
    return _bytes(wanted) is not None and _bytes(wanted) == _bytes(got)


def _bytes(value: str) -> int | None:
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        return None
    number, unit = match.groups()
    return int(number) * _UNITS[(unit or "").lower()]


def live_text(values: Mapping[str, str]) -> str:
    """The live settings file of a node: one directive a line."""
    return "".join(f"{key} {value}\n" for key, value in sorted(values.items()))


def live_job(
    stack: str,
    host: str,
    image: str,
    user: str,
    writes: Sequence[tuple[str, str, Mapping[str, str]]],
) -> dict[str, Any]:
    """A one-task job on Swarm node ``host`` that writes each (volume, file, values) of
    ``writes``: the live settings of the nodes placed there. Only sh and its printf."""
    mounts, env, steps = [], [], ["set -eu"]
    for index, (volume, path, values) in enumerate(writes):
        mounts.append({"Type": "volume", "Source": volume, "Target": f"/v/{index}"})
        env.append(f"SWARMREDIS_LIVE_{index}={live_text(values)}")
        target = f"/v/{index}/{path.rsplit('/', 1)[1]}"
        steps.append(f'printf "%s" "$SWARMREDIS_LIVE_{index}" > {shlex.quote(target)}')
    return {
        "Name": f"{stack}_live-config-{host[:12]}",
        "Labels": {labels.MANAGED: "true", labels.STACK: stack, labels.KIND: "live-config"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": image,
                "User": user,
                "Env": env,
                "Command": ["sh", "-c", "\n".join(steps)],
                "Mounts": mounts,
            },
            "Placement": {"Constraints": [f"node.id=={host}"]},
            "RestartPolicy": {"Condition": "none"},
        },
        "Mode": {"GlobalJob": {}},
    }

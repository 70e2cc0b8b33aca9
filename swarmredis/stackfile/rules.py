"""Shape rules for the free-form strings of a stack file.

Each ``check_*`` function returns the value unchanged or raises ``ValueError``
with a message that says what is allowed; the model turns that into a
``SpecError`` naming the file and field path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
USER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
NETWORK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
CONFIG_KEY = re.compile(r"^[a-z][a-z0-9-]*$")

BUILTIN_USERS = ("default", "monitor", "replication", "sentinel", "swarmredis-admin")

ACL_CATEGORIES = frozenset(
    [
        "admin",
        "all",
        "bitmap",
        "blocking",
        "connection",
        "dangerous",
        "fast",
        "geo",
        "hash",
        "hyperloglog",
        "keyspace",
        "list",
        "pubsub",
        "read",
        "scripting",
        "set",
        "slow",
        "sortedset",
        "stream",
        "string",
        "transaction",
        "write",
    ]
)
_COMMAND_RULE = re.compile(r"^[+-](?:@([a-z]+)|[a-z][a-z0-9_-]*(?:\|[a-z0-9][a-z0-9_-]*)?)$")

# redis.conf directives swarmredis owns (TLS, ACL, cluster, files, replication,
# announce settings) or that have their own field in the stack file.
DENIED_DIRECTIVES = frozenset(
    {
        "aclfile",
        "appendfsync",
        "appendonly",
        "bind",
        "bind-source-addr",
        "daemonize",
        "dir",
        "enable-debug-command",
        "enable-module-command",
        "enable-protected-configs",
        "include",
        "loadmodule",
        "logfile",
        "masterauth",
        "masteruser",
        "maxmemory",
        "pidfile",
        "port",
        "protected-mode",
        "rename-command",
        "replicaof",
        "requirepass",
        "save",
        "sentinel",
        "slaveof",
        "supervised",
        "unixsocket",
        "unixsocketperm",
        "user",
    }
)
DENIED_PREFIXES = ("tls-", "cluster-", "replica-announce-", "slave-announce-")
DIRECTIVE_OWNERS = {
    "maxmemory": "resources.memory and resources.maxmemory_ratio",
    "save": "persistence.save",
    "appendonly": "persistence.appendonly",
    "appendfsync": "persistence.appendfsync",
    "port": "port",
    "user": "acl.users",
    "aclfile": "acl.users",
}

_CONSTRAINT = re.compile(r"^\s*(node\.[A-Za-z0-9_.-]+)\s*(==|!=)\s*(\S+)\s*$")
_LABEL_ATTR = re.compile(r"^node\.labels\.[A-Za-z0-9_.-]+$")
_PLAIN_ATTRS = ("node.id", "node.hostname", "node.role")


@dataclass(frozen=True)
class Constraint:
    """One parsed placement constraint: ``node.labels.zone == a``."""

    attribute: str  # node.id | node.hostname | node.role | node.labels.<key>
    operator: str  # == | !=
    value: str

    def render(self) -> str:
        """The constraint as Docker writes it."""
        return f"{self.attribute}{self.operator}{self.value}"


def parse_constraint(text: str) -> Constraint:
    """Parse and check one ``node.<attr> ==|!= <value>`` placement constraint."""
    match = _CONSTRAINT.match(text)
    if not match:
        raise ValueError(f"must look like 'node.labels.<key> == <value>', got {text!r}")
    attribute, operator, value = match.groups()
    if attribute not in _PLAIN_ATTRS and not _LABEL_ATTR.match(attribute):
        raise ValueError(
            f"unsupported attribute {attribute!r}; allowed: node.id, node.hostname, "
            "node.role, node.labels.<key>"
        )
    if attribute == "node.role" and value not in ("manager", "worker"):
        raise ValueError(f"node.role must be compared with manager or worker, got {value!r}")
    return Constraint(attribute, operator, value)


def check_spread(text: str) -> str:
    """The anti-affinity domain: ``node.id``, ``node.hostname`` or ``node.labels.<key>``."""
    if text in ("node.id", "node.hostname") or _LABEL_ATTR.match(text):
        return text
    raise ValueError(f"must be node.id, node.hostname or node.labels.<key>, got {text!r}")


def check_command_rule(rule: str) -> str:
    """An ACL command rule: ``+@read``, ``-flushall``, ``+client|list`` (lowercased)."""
    rule = rule.lower()  # Redis matches command names case-insensitively
    match = _COMMAND_RULE.match(rule)
    if not match:
        raise ValueError(
            f"must be +@<category>, -@<category>, +<command>, -<command> or "
            f"+<command>|<subcommand>, got {rule!r}"
        )
    category = match.group(1)
    if category is not None and category not in ACL_CATEGORIES:
        raise ValueError(
            f"unknown ACL category @{category}; allowed: "
            + ", ".join(f"@{c}" for c in sorted(ACL_CATEGORIES))
        )
    return rule


def check_pattern(pattern: str, *, prefix: str) -> str:
    """A key or channel glob pattern, written without its ACL prefix (``~`` or ``&``)."""
    if not pattern or any(ch.isspace() for ch in pattern):
        raise ValueError(f"must be a non-empty pattern without spaces, got {pattern!r}")
    if pattern.startswith(prefix) or pattern.startswith("%"):
        raise ValueError(f"write the pattern without the ACL prefix {prefix!r}, got {pattern!r}")
    return pattern


def check_user_name(name: str) -> str:
    """An ACL user name that does not clash with the users swarmredis creates."""
    if not USER_NAME.match(name):
        raise ValueError(
            f"must be 1-64 letters, digits, '_', '.' or '-', starting with a letter, got {name!r}"
        )
    if name.lower() in BUILTIN_USERS:
        raise ValueError(
            f"{name!r} is a built-in user; reserved names: " + ", ".join(BUILTIN_USERS)
        )
    return name


def check_directive(key: str, value: str) -> None:
    """An extra redis.conf directive: allowed name, single-line value."""
    if not CONFIG_KEY.match(key):
        raise ValueError(f"{key!r} is not a redis.conf directive name (lowercase, a-z0-9-)")
    denied = key in DENIED_DIRECTIVES or key.startswith(DENIED_PREFIXES)
    if denied:
        owner = DIRECTIVE_OWNERS.get(key)
        reason = f"set it with {owner}" if owner else "swarmredis manages it"
        raise ValueError(f"{key!r} is not allowed in config ({reason})")
    if not value.strip() or "\n" in value or "\r" in value:
        raise ValueError(f"{key!r} must have a non-empty single-line value")


def check_save(text: str) -> str:
    """``persistence.save``: pairs of ``<seconds> <changes>``, or empty to disable."""
    parts = text.split()
    ok = len(parts) % 2 == 0 and all(p.isdigit() and int(p) > 0 for p in parts)
    if not ok:
        raise ValueError(
            f"must be pairs of '<seconds> <changes>' (e.g. '3600 1 300 100') or '', got {text!r}"
        )
    return " ".join(parts)


def check_tls_enabled(enabled: bool) -> bool:
    """TLS cannot be switched off: the engine, the health checks, replication, the cluster
    bus and Sentinel all speak TLS only, so a plain-text stack would deploy and never answer."""
    if not enabled:
        raise ValueError(
            "false is not supported: swarmredis reaches, checks and links every node over"
            " TLS only; remove the key (TLS is always on) or set it to true"
        )
    return enabled

"""Shape rules for the free-form strings of a stack file.

Each ``check_*`` function returns the value unchanged or raises ``ValueError``
with a message that says what is allowed; the model turns that into a
``SpecError`` naming the file and field path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Matched with fullmatch: `$` would also match before a trailing newline ("acme\n").
STACK_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
USER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
# Swarm's own rule for network (and service) names: manager/controlapi/common.go,
# isValidDNSName, at most 63 characters; a '.' is refused there at create time.
NETWORK_NAME = re.compile(r"[A-Za-z0-9](?:[-_]*[A-Za-z0-9]+)*")
MAX_NETWORK_NAME = 63
CONFIG_KEY = re.compile(r"[a-z][a-z0-9-]*")
# docker/distribution's reference grammar: [domain[:port]/]path[:tag][@digest].
_DOMAIN = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE = re.compile(
    rf"(?:{_DOMAIN}(?:\.{_DOMAIN})*(?::[0-9]+)?/)?{_PATH}(?:/{_PATH})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
MAX_IMAGE_NAME = 255
SHOWN = 60  # characters of a refused value quoted back in a message

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
_COMMAND_RULE = re.compile(r"[+-](?:@([a-z]+)|[a-z][a-z0-9_-]*(?:\|[a-z0-9][a-z0-9_-]*)?)")

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
# cluster-* directives the stack file may set after all, with the values allowed: whether
# an emptied primary and its replicas follow another primary (swarmredis: no, unless
# set; see engine/modes/cluster/bootstrap.py)
ALLOWED_CLUSTER = {"cluster-allow-replica-migration": ("yes", "no")}
DIRECTIVE_OWNERS = {
    "maxmemory": "resources.memory and resources.maxmemory_ratio",
    "save": "persistence.save",
    "appendonly": "persistence.appendonly",
    "appendfsync": "persistence.appendfsync",
    "port": "port",
    "user": "acl.users",
    "aclfile": "acl.users",
}

_CONSTRAINT = re.compile(r" *(node\.[A-Za-z0-9_.-]+) *(==|!=) *(\S+) *")
# Swarm's constraint values (manager/constraint/constraint.go, valuePattern), without
# blanks: anything else Swarm refuses when the service is created.
_CONSTRAINT_VALUE = re.compile(r"[A-Za-z0-9:_.*()?+\[\]\\^$|/-]+")
_LABEL_ATTR = re.compile(r"node\.labels\.[A-Za-z0-9_.-]+")
_PLAIN_ATTRS = ("node.id", "node.hostname", "node.role")
# str.isdigit() also takes superscripts and other scripts' digits, which int() or Redis refuse.
_DIGITS = re.compile(r"[0-9]+")


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
    match = _CONSTRAINT.fullmatch(text)
    if not match:
        raise ValueError(f"must look like 'node.labels.<key> == <value>', got {shown(text)}")
    attribute, operator, value = match.groups()
    if attribute not in _PLAIN_ATTRS and not _LABEL_ATTR.fullmatch(attribute):
        raise ValueError(
            f"unsupported attribute {attribute!r}; allowed: node.id, node.hostname, "
            "node.role, node.labels.<key>"
        )
    if attribute == "node.role" and value not in ("manager", "worker"):
        raise ValueError(f"node.role must be compared with manager or worker, got {shown(value)}")
    if not _CONSTRAINT_VALUE.fullmatch(value):
        raise ValueError(
            "the value may have letters, digits and : _ . * ( ) ? + [ ] \\ ^ $ | / - only"
            f" (Swarm refuses others), got {shown(value)}"
        )
    return Constraint(attribute, operator, value)


def check_spread(text: str) -> str:
    """The anti-affinity domain: ``node.id``, ``node.hostname`` or ``node.labels.<key>``."""
    if text in ("node.id", "node.hostname") or _LABEL_ATTR.fullmatch(text):
        return text
    raise ValueError(f"must be node.id, node.hostname or node.labels.<key>, got {shown(text)}")


def check_command_rule(rule: str) -> str:
    """An ACL command rule: ``+@read``, ``-flushall``, ``+client|list`` (lowercased)."""
    rule = rule.lower()  # Redis matches command names case-insensitively
    match = _COMMAND_RULE.fullmatch(rule)
    if not match:
        raise ValueError(
            f"must be +@<category>, -@<category>, +<command>, -<command> or "
            f"+<command>|<subcommand>, got {shown(rule)}"
        )
    category = match.group(1)
    if category is not None and category not in ACL_CATEGORIES:
        raise ValueError(
            f"unknown ACL category @{category}; allowed: "
            + ", ".join(f"@{c}" for c in sorted(ACL_CATEGORIES))
        )
    return rule


def check_pattern(pattern: str, *, prefix: str) -> str:
    """A key or channel glob pattern, written without its ACL prefix (``~`` or ``&``).

    Redis splits an ACL file's lines at blanks (so a blank would start rules of their
    own, ``+@all``) and at newlines; quotes, ``>`` and ``#`` inside a pattern are read
    literally (checked with redis-server 7.0.15: ``~a"b`` loads as the pattern ``a"b``).
    """
    if not pattern or not pattern.isprintable() or any(ch.isspace() for ch in pattern):
        raise ValueError(
            "must be a non-empty pattern without spaces or control characters,"
            f" got {shown(pattern)}"
        )
    if pattern.startswith(prefix) or pattern.startswith("%"):
        raise ValueError(
            f"write the pattern without the ACL prefix {prefix!r}, got {shown(pattern)}"
        )
    return pattern


def check_user_name(name: str) -> str:
    """An ACL user name that does not clash with the users swarmredis creates."""
    if not USER_NAME.fullmatch(name):
        raise ValueError(
            "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter,"
            f" got {shown(name)}"
        )
    if name.lower() in BUILTIN_USERS:
        raise ValueError(
            f"{name!r} is a built-in user; reserved names: " + ", ".join(BUILTIN_USERS)
        )
    return name


def check_directive(key: str, value: str) -> str:
    """An extra redis.conf directive: allowed name, one line of value (returned stripped)."""
    if not CONFIG_KEY.fullmatch(key):
        raise ValueError(f"{shown(key)} is not a redis.conf directive name (lowercase, a-z0-9-)")
    if key in ALLOWED_CLUSTER:
        if value.strip() not in ALLOWED_CLUSTER[key]:
            allowed = " or ".join(ALLOWED_CLUSTER[key])
            raise ValueError(f"{key!r} must be {allowed}, got {shown(value)}")
        return value.strip()
    denied = key in DENIED_DIRECTIVES or key.startswith(DENIED_PREFIXES)
    if denied:
        owner = DIRECTIVE_OWNERS.get(key)
        reason = f"set it with {owner}" if owner else "swarmredis manages it"
        raise ValueError(f"{key!r} is not allowed in config ({reason})")
    if not value.strip() or not value.isprintable():
        raise ValueError(
            f"{key!r} must have a non-empty value on one line, without control characters,"
            f" got {shown(value)}"
        )
    if '"' in value or "'" in value:
        # Redis splits config lines with sdssplitargs: redis-server 7.0.15 refuses to start
        # on `maxmemory-policy allkeys-lru'` ("Unbalanced quotes in configuration line").
        raise ValueError(
            f"{key!r}: quotes are not allowed; write the arguments unquoted, separated by"
            f" spaces, got {shown(value)}"
        )
    return value.strip()


def check_save(text: str) -> str:
    """``persistence.save``: pairs of ``<seconds> <changes>``, or empty to disable."""
    parts = text.split()
    ok = len(parts) % 2 == 0 and all(_DIGITS.fullmatch(p) and int(p) > 0 for p in parts)
    if not ok:
        raise ValueError(
            f"must be pairs of '<seconds> <changes>' (e.g. '3600 1 300 100') or '',"
            f" got {shown(text)}"
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


def shown(value: object) -> str:
    """``repr(value)`` for a message, cut to ``SHOWN`` characters (a value may be 1 MiB)."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit str() limit
        return f"<a {type(value).__name__} too long to show>"
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def check_stack_name(name: str) -> str:
    """The stack's name: the prefix of every object, DNS alias and certificate folder."""
    if not STACK_NAME.fullmatch(name):
        raise ValueError(
            "must be 1-31 lowercase letters, digits or '-', starting with a letter, "
            f"got {shown(name)}"
        )
    return name


def check_network_name(name: str) -> str:
    """A Swarm network name, by Swarm's own rule (refused at create time otherwise)."""
    if len(name) > MAX_NETWORK_NAME or not NETWORK_NAME.fullmatch(name):
        raise ValueError(
            f"must be 1-{MAX_NETWORK_NAME} letters, digits, '_' or '-', starting and ending"
            f" with a letter or digit (Swarm's rule), got {shown(name)}"
        )
    return name


def check_image(image: str) -> str:
    """A Docker image reference: ``[registry[:port]/]path[:tag][@digest]``."""
    if len(_image_name(image)) > MAX_IMAGE_NAME or not IMAGE.fullmatch(image):
        raise ValueError(
            "must be an image reference like redis:7.0, registry.example:5000/redis:7.2 or"
            " redis@sha256:<hex> (lowercase path, no blanks or quotes), got " + shown(image)
        )
    return image


def _image_name(image: str) -> str:
    """The repository part of a reference: without ``@digest`` and ``:tag``."""
    name = image.split("@", 1)[0]
    tag_at = name.rfind(":")
    return name[:tag_at] if tag_at > name.rfind("/") else name

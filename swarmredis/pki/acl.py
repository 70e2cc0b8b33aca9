"""ACL users: the built-in least-privilege users, stack users, passwords, files (pure).

Every rendered rule starts from nothing (``resetpass``/``resetkeys``/
``resetchannels``/``-@all``) and then grants, so the result never depends on
server defaults such as ``acl-pubsub-default``. Redis only ever sees password
hashes (``#<sha256 hex>``); the plain passwords stay in the store.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from swarmredis.errors import PKIError

DEFAULT = "default"
ADMIN = "swarmredis-admin"
REPLICATION = "replication"
MONITOR = "monitor"
SENTINEL = "sentinel"
BUILTIN = (DEFAULT, ADMIN, MONITOR, REPLICATION, SENTINEL)
SENTINEL_HELLO = "__sentinel__:hello"

# fullmatch: `$` also matches before a trailing newline, which would end the ACL line.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class AclUser:
    """One ACL user: patterns are written without their ``~``/``&`` prefix."""

    name: str
    keys: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    enabled: bool = True
    client_cert: bool = False  # whether it gets clients/<name>.crt
    purpose: str = ""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise PKIError(f"ACL user name {self.name!r} must match {_NAME.pattern}")
        for token in (*self.keys, *self.channels, *self.commands):
            if not _TOKEN.fullmatch(token):
                raise PKIError(f"ACL user {self.name!r}: rule {token!r} has blanks")

    def rules(self) -> str:
        """The user's rules without the password part, as Redis reads them."""
        parts = ["on" if self.enabled else "off", "resetkeys"]
        parts += [f"~{k}" for k in self.keys]
        parts.append("resetchannels")
        parts += [f"&{c}" for c in self.channels]
        parts += ["-@all", *self.commands]
        return " ".join(parts)

    def line(self, password_hash: str | None, previous_hash: str | None = None) -> str:
        """The ``user`` line of an ACL file (or of sentinel.conf); during a password
        rotation the previous password is valid too."""
        secret = f"#{password_hash}" if password_hash else "resetpass"
        if password_hash and previous_hash and previous_hash != password_hash:
            secret += f" #{previous_hash}"
        on_off, rest = self.rules().split(" ", 1)
        return f"user {self.name} {on_off} {secret} {rest}"


# The engine: everything, on every key and channel.
ADMIN_USER = AclUser(
    ADMIN,
    keys=("*",),
    channels=("*",),
    commands=("+@all",),
    client_cert=True,
    purpose="the swarmredis engine",
)
# `resetpass` also drops `nopass`: even switched on by mistake, nobody can log in.
DEFAULT_USER = AclUser(DEFAULT, enabled=False, purpose="disabled")
# A replica runs PING, AUTH (always allowed), REPLCONF and PSYNC on its primary;
# cluster replicas use the same `masteruser` link (the bus itself is TLS-only).
REPLICATION_USER = AclUser(
    REPLICATION, commands=("+psync", "+replconf", "+ping"), purpose="replicas (masteruser)"
)
# In cluster mode each node's health check also heals peer addresses after restarts
# (plan/heal.py): it reads its own CLUSTER INFO and CLUSTER NODES (the peers' hostnames),
# asks a peer for its address (CLIENT INFO shows `laddr`) and MEETs the peer there; a
# replica whose primary moved is pointed at it again (ROLE, CLUSTER REPLICATE of the same
# primary). No keys, no other admin command.
CLUSTER_REPLICATION_USER = AclUser(
    REPLICATION,
    commands=(
        *REPLICATION_USER.commands,
        "+client|info",
        "+cluster|info",
        "+cluster|nodes",
        "+cluster|meet",
        "+cluster|replicate",
        "+role",
    ),
    purpose="replicas (masteruser); address healing in cluster mode",
)
# The user a source primary's MIGRATE logs in as on the target (MIGRATE ... AUTH2): it
# sends SELECT on a new cached connection, then RESTORE-ASKING per key (REPLACE is an
# argument). Keys: all, since a slot holds any key; no other command, no channel.
MIGRATION = "migration"
MIGRATION_USER = AclUser(
    MIGRATION,
    keys=("*",),
    commands=("+select", "+restore-asking"),
    purpose="slot moves (MIGRATE AUTH2 on the target)",
)
# A metrics exporter, without keys or channels: what `swarmredis metrics` reads (the
# probe of `status`: INFO, ROLE, the cluster's view). Left out on purpose: CONFIG GET (it
# returns masterauth in clear text) and SLOWLOG GET (it shows the arguments, i.e. data,
# of slow commands); SLOWLOG LEN is enough for metrics.
MONITOR_USER = AclUser(
    MONITOR,
    commands=(
        "+ping",
        "+info",
        "+role",
        "+client|list",
        "+client|setname",
        "+cluster|info",
        "+cluster|myid",
        "+cluster|nodes",
        "+latency|latest",
        "+slowlog|len",
    ),
    client_cert=True,
    purpose="metrics exporter (read-only, no keys)",
)
# The command set the Redis Sentinel documentation lists; channels limited to
# the hello channel instead of `allchannels`.
SENTINEL_USER = AclUser(
    SENTINEL,
    channels=(SENTINEL_HELLO,),
    commands=(
        "+multi",
        "+slaveof",
        "+ping",
        "+exec",
        "+subscribe",
        "+config|rewrite",
        "+role",
        "+publish",
        "+info",
        "+client|setname",
        "+client|kill",
        "+script|kill",
    ),
    purpose="sentinels watching the nodes",
)
# What sentinels run on each other (found with ACL LOG against redis-server 7.0
# sentinels): hello messages are published directly to peers, and failover
# votes use SENTINEL IS-MASTER-DOWN-BY-ADDR.
SENTINEL_PEER_USER = AclUser(
    SENTINEL,
    channels=(SENTINEL_HELLO,),
    commands=("+ping", "+publish", "+client|setname", "+sentinel|is-master-down-by-addr"),
    purpose="sentinels talking to each other",
)
# The metrics exporter on the Sentinels: their view of the primary, replicas and quorum.
SENTINEL_MONITOR_USER = AclUser(
    MONITOR,
    commands=(
        "+ping",
        "+info",
        "+role",
        "+client|setname",
        "+sentinel|master",
        "+sentinel|replicas",
        "+sentinel|ckquorum",
    ),
    client_cert=True,
    purpose="metrics exporter on the sentinels (read-only)",
)
# What an application needs from sentinels: find the primary, follow failovers.
_DISCOVERY = (
    "+ping",
    "+role",
    "+subscribe",
    "+sentinel|get-master-addr-by-name",
    "+sentinel|master",
    "+sentinel|masters",
    "+sentinel|replicas",
    "+sentinel|slaves",
    "+sentinel|sentinels",
)


# What a cluster-aware client needs to find the slots and follow redirects; granted
# last, so a stack user's "-@slow"/"-@dangerous" cannot break cluster discovery.
CLUSTER_CLIENT = (
    "+cluster|slots",
    "+cluster|shards",
    "+cluster|nodes",
    "+cluster|info",
    "+cluster|keyslot",
    "+cluster|myid",
    "+readonly",
    "+readwrite",
    "+asking",
)


# Redis checks key patterns on key arguments only: SCAN, KEYS and RANDOMKEY list the
# names of every key (measured on redis-server 7.0.15: `SCAN 0` as a `~app:*` user
# returned `other:1`). Denied to users with limited keys unless their rules name one.
KEY_LISTING = ("keys", "scan", "randomkey")


def _key_listing_denials(keys: Sequence[str], commands: Sequence[str]) -> tuple[str, ...]:
    if "*" in keys:
        return ()
    named = {c[1:].lower() for c in commands if c.startswith("+")}
    return tuple(f"-{c}" for c in KEY_LISTING if c not in named)


def stack_user(
    name: str,
    keys: Iterable[str],
    channels: Iterable[str],
    commands: Iterable[str],
    *,
    cluster: bool = False,
) -> AclUser:
    """A user from the stack file; refuses the names of built-in users.

    Without ``*`` among its keys it loses ``KEY_LISTING`` (unless its commands grant one
    by name); in cluster mode it also gets ``CLUSTER_CLIENT``.
    """
    if name.lower() in BUILTIN:
        raise PKIError(f"{name!r} is a built-in ACL user; choose another name")
    keys, commands = tuple(keys), tuple(commands)
    rules = (*commands, *_key_listing_denials(keys, commands))
    if cluster:
        rules += CLUSTER_CLIENT
    return AclUser(name, keys, tuple(channels), rules, client_cert=True, purpose="stack user")


def redis_users(
    stack_users: Sequence[AclUser], *, sentinels: bool, cluster: bool = False
) -> tuple[AclUser, ...]:
    """Every user of the Redis nodes' ACL file, ``default`` first."""
    replication = CLUSTER_REPLICATION_USER if cluster else REPLICATION_USER
    builtin = [DEFAULT_USER, ADMIN_USER, replication, MONITOR_USER]
    if sentinels:
        builtin.append(SENTINEL_USER)
    return _unique((*builtin, *stack_users))


def sentinel_side_users(stack_users: Sequence[AclUser]) -> tuple[AclUser, ...]:
    """Users defined on the sentinels themselves (peers, the engine, applications)."""
    apps = [
        AclUser(u.name, channels=("+switch-master",), commands=_DISCOVERY, purpose=u.purpose)
        for u in stack_users
    ]
    return _unique((DEFAULT_USER, ADMIN_USER, SENTINEL_PEER_USER, SENTINEL_MONITOR_USER, *apps))


def _unique(users: Iterable[AclUser]) -> tuple[AclUser, ...]:
    seen: set[str] = set()
    out: list[AclUser] = []
    for user in users:
        if user.name in seen:
            raise PKIError(f"ACL user {user.name!r} is defined twice")
        seen.add(user.name)
        out.append(user)
    return tuple(out)


def password_users(users: Iterable[AclUser]) -> tuple[str, ...]:
    """Names of the users that log in with a password (every enabled user)."""
    return tuple(dict.fromkeys(u.name for u in users if u.enabled))


def new_password() -> str:
    """32 random bytes, base64url without padding (43 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


def password_hash(password: str) -> str:
    """The SHA-256 hex digest Redis accepts as ``#<hash>``."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def render_users(
    users: Sequence[AclUser],
    passwords: Mapping[str, str],
    previous: Mapping[str, str] | None = None,
) -> str:
    """``user`` lines for ``users``; every enabled user needs a password in ``passwords``;
    a user in ``previous`` (a password rotation) accepts that password too."""
    lines = []
    for user in users:
        if user.enabled and user.name not in passwords:
            raise PKIError(f"no password for ACL user {user.name!r}")
        digest = password_hash(passwords[user.name]) if user.enabled else None
        old = (previous or {}).get(user.name) if user.enabled else None
        lines.append(user.line(digest, password_hash(old) if old else None))
    return "\n".join(lines) + "\n"


def replication_auth(password: str) -> str:
    """``replication-auth.conf``: how replicas authenticate to their primary."""
    return f"masteruser {REPLICATION}\nmasterauth {password}\n"


def sentinel_auth(master: str, sentinel_password: str, sentinel_users: str) -> str:
    """``sentinel-auth.conf``: appended after ``sentinel monitor <master> ...``.

    ``sentinel_users`` are the rendered ``user`` lines of ``sentinel_side_users``.
    """
    return (
        f"sentinel auth-user {master} {SENTINEL}\n"
        f"sentinel auth-pass {master} {sentinel_password}\n"
        f"sentinel sentinel-user {SENTINEL}\n"
        f"sentinel sentinel-pass {sentinel_password}\n" + sentinel_users
    )

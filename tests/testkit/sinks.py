"""Where a validated stack's strings end up, checked against the rules of each sink.

``assert_sinks_safe(stack)`` renders what the planner makes of a ``Stack`` (redis.conf
and sentinel.conf of every node, the ACL file, Swarm object names, constraints, the
image) and asserts that no value of the stack file broke out of its place: one
directive per config line, one token per ACL rule, and names Swarm accepts. The rules
are Swarm's and Redis' own, quoted where they are defined.
"""

from __future__ import annotations

import re

from swarmredis import labels
from swarmredis.pki import acl
from swarmredis.pki.material import stack_pki
from swarmredis.plan.redisconf import redis_conf, sentinel_conf
from swarmredis.plan.services import config_logical, node_secrets
from swarmredis.stackfile import Stack, topology

# moby/swarmkit manager/controlapi/common.go: services and networks (<= 63 characters),
# configs and secrets (<= 64 characters).
SWARM_DNS_NAME = re.compile(r"[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*")
SWARM_CONFIG_NAME = re.compile(r"[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?")
# moby/swarmkit manager/constraint/constraint.go (key and value of one constraint).
SWARM_CONSTRAINT_KEY = re.compile(r"(?i)[a-z_][a-z0-9\-_.]+")
SWARM_CONSTRAINT_VALUE = re.compile(r"(?i)[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+")
# Docker's volume names (daemon/names: RestrictedNamePattern) and an RFC 1123 label.
DOCKER_VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# What a rule token of an ACL line may start with.
ACL_RULE_STARTS = ("on", "off", "#", "resetpass", "resetkeys", "resetchannels", "~", "&", "+", "-")
HOST_ADDR = "10.0.0.1"
PRIMARY_ADDR = ("10.0.0.2", 7000)


def assert_sinks_safe(stack: Stack) -> None:
    """Every place a string of ``stack`` reaches is intact (see the module docstring)."""
    assert_conf_lines_intact(stack)
    assert_acl_lines_intact(stack)
    assert_swarm_names_valid(stack)
    for constraint in stack.placement.constraints:
        key, _, value = constraint.partition("==" if "==" in constraint else "!=")
        assert SWARM_CONSTRAINT_KEY.fullmatch(key.strip()), constraint
        assert SWARM_CONSTRAINT_VALUE.fullmatch(value.strip()), constraint
    assert stack.image.isprintable() and not re.search(r"[\s\"']", stack.image), stack.image


def assert_conf_lines_intact(stack: Stack) -> None:
    """Each config override is one line of redis.conf, the only one of its directive; the
    last line includes the node's live settings file (plan/liveconf.py)."""
    nodes = topology(stack)
    primary = nodes[0]
    for node in nodes:
        if node.kind == "redis":
            text = redis_conf(stack, node, HOST_ADDR, PRIMARY_ADDR)
            lines = text.splitlines()
            assert re.fullmatch(r"include /data/live-[0-9a-f]{16}\*\.conf", lines[-1]), lines[-1]
            for key, value in stack.config.items():
                assert [x for x in lines if x.split(" ")[0] == key] == [f"{key} {value}"], key
        else:
            text = sentinel_conf(stack, node, primary, HOST_ADDR, PRIMARY_ADDR[0])
        assert text.endswith("\n") and "\r" not in text, text
        for line in text.splitlines():
            assert line.isprintable() and line == line.strip(), repr(line)
            assert line.count('"') % 2 == 0 and "'" not in line, repr(line)
    for key in stack.config:
        assert key and not any(c.isspace() for c in key), repr(key)  # the directive: one token


def assert_acl_lines_intact(stack: Stack) -> None:
    """One ``user`` line per user, its name the second token, every rule one token."""
    users = acl.redis_users(stack_pki(stack).users, sentinels=stack.sentinel_count > 0)
    text = acl.render_users(users, {u.name: "pw" for u in users})
    lines = text.splitlines()
    assert len(lines) == len(users), lines
    for user, line in zip(users, lines, strict=True):
        tokens = line.split(" ")
        assert tokens[:2] == ["user", user.name], line
        # Redis splits ACL file lines at blanks only: quotes in a pattern are literal.
        assert all(t and t.isprintable() and not re.search(r"\s", t) for t in tokens), line
        assert all(t.startswith(ACL_RULE_STARTS) for t in tokens[2:]), line
        assert tokens.count("on") + tokens.count("off") == 1, line


def assert_swarm_names_valid(stack: Stack) -> None:
    """Every service, network, secret, config and volume name passes Swarm's checks."""
    digest = "f" * 64
    if not stack.host_network:
        assert len(stack.network.name) <= 63 and SWARM_DNS_NAME.fullmatch(stack.network.name)
    for node in topology(stack):
        assert len(node.service) <= 63 and SWARM_DNS_NAME.fullmatch(node.service), node.service
        assert DNS_LABEL.fullmatch(node.alias), node.alias
        assert DOCKER_VOLUME_NAME.fullmatch(node.volume), node.volume
        for logical in (*node_secrets(stack, node), config_logical(node)):
            name = labels.versioned_name(stack.name, logical, digest)
            assert len(name) <= 64 and SWARM_CONFIG_NAME.fullmatch(name), name

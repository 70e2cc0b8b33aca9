"""Bad-input matrix: every invalid field gives its own message naming file and field path."""

from __future__ import annotations

import pytest

from swarmredis.errors import SpecError
from swarmredis.stackfile import parse_stack

# (stack file text, exact expected message without the "stacks/x.yaml: " prefix)
BAD = [
    ("name: acme\nshards: 2\n", "shards: must be >= 3 for mode cluster, got 2 (line 2)"),
    ("name: acme\nnetworkk: {}\n", "networkk: unknown field (line 2)"),
    (
        "name: Acme\n",
        "name: must be 1-31 lowercase letters, digits or '-', starting with a letter,"
        " got 'Acme' (line 1)",
    ),
    ("mode: cluster\n", "name: required field is missing"),
    (
        "name: acme\nmode: sharded\n",
        "mode: must be one of 'cluster', 'replication' or 'standalone', got 'sharded' (line 2)",
    ),
    ("name: acme\nreplicas: 9\n", "replicas: must be <= 5, got 9 (line 2)"),
    ("name: acme\nreplicas: true\n", "replicas: must be an integer, got True (line 2)"),
    (
        "name: acme\nmode: replication\nreplicas: 0\n",
        "replicas: must be >= 1 for mode replication, got 0 (line 3)",
    ),
    (
        "name: acme\nmode: standalone\nreplicas: 1\n",
        "replicas: must be 0 for mode standalone, got 1 (line 3)",
    ),
    (
        "name: acme\nmode: replication\nshards: 3\n",
        "shards: only allowed for mode cluster, not replication (line 3)",
    ),
    (
        "name: acme\nsentinel: {count: 3}\n",
        "sentinel: only allowed for mode replication, not cluster (line 2)",
    ),
    (
        "name: acme\nmode: replication\nsentinel: {count: 3, quorum: 4}\n",
        "sentinel.quorum: must be <= count (3), got 4 (line 3)",
    ),
    ("name: acme\nport: 0\n", "port: must be >= 1, got 0 (line 2)"),
    (
        "name: acme\nport: 60000\n",
        "port: must be <= 55535 for mode cluster (the bus port is port + 10000), got 60000"
        " (line 2)",
    ),
    (
        "name: acme\nnetwork: {name: 'a b'}\n",
        "network.name: must be 1-63 letters, digits, '_' or '-', starting and ending with a"
        " letter or digit (Swarm's rule), got 'a b' (line 2)",
    ),
    (
        "name: acme\nnetwork: {subnet: 10.0.0.1/8}\n",
        "network.subnet: must be an IPv4 CIDR like 10.20.0.0/24, got '10.0.0.1/8' (line 2)",
    ),
    (
        "name: acme\nnetwork: {encrypted: maybe}\n",
        "network.encrypted: must be true or false, got 'maybe' (line 2)",
    ),
    (
        "name: acme\nplacement: {constraints: ['node.platform.os == linux']}\n",
        "placement.constraints[0]: unsupported attribute 'node.platform.os'; allowed: node.id,"
        " node.hostname, node.role, node.labels.<key> (line 2)",
    ),
    (
        "name: acme\nplacement: {constraints: ['node.role == boss']}\n",
        "placement.constraints[0]: node.role must be compared with manager or worker, got 'boss'"
        " (line 2)",
    ),
    (
        "name: acme\nplacement: {spread: zone}\n",
        "placement.spread: must be node.id, node.hostname or node.labels.<key>, got 'zone'"
        " (line 2)",
    ),
    (
        "name: acme\nresources: {memory: 12K}\n",
        "resources.memory: must be >= 32M, got 12K (line 2)",
    ),
    (
        "name: acme\nresources: {memory: lots}\n",
        "resources.memory: must be a size like 512M or 1G, got 'lots' (line 2)",
    ),
    ("name: acme\nresources: {cpus: 0}\n", "resources.cpus: must be > 0, got 0 (line 2)"),
    (
        "name: acme\nresources: {maxmemory_ratio: 1.5}\n",
        "resources.maxmemory_ratio: must be <= 1, got 1.5 (line 2)",
    ),
    (
        "name: acme\npersistence: {appendfsync: sometimes}\n",
        "persistence.appendfsync: must be one of 'always', 'everysec' or 'no', got 'sometimes'"
        " (line 2)",
    ),
    (
        "name: acme\npersistence: {save: '3600'}\n",
        "persistence.save: must be pairs of '<seconds> <changes>' (e.g. '3600 1 300 100') or '',"
        " got '3600' (line 2)",
    ),
    (
        "name: acme\ntls: {auth_clients: maybe}\n",
        "tls.auth_clients: must be one of 'required', 'optional' or 'no', got 'maybe' (line 2)",
    ),
    (
        "name: acme\nacl: {users: [{name: default, commands: ['+@read']}]}\n",
        "acl.users[0].name: 'default' is a built-in user; reserved names: default, monitor,"
        " replication, sentinel, swarmredis-admin (line 2)",
    ),
    (
        "name: acme\nacl: {users: [{name: app, commands: ['read']}]}\n",
        "acl.users[0].commands[0]: must be +@<category>, -@<category>, +<command>, -<command> or"
        " +<command>|<subcommand>, got 'read' (line 2)",
    ),
    (
        "name: acme\nacl: {users: [{name: app, commands: []}]}\n",
        "acl.users[0].commands: must have at least 1 item(s) (line 2)",
    ),
    (
        "name: acme\nacl: {users: [{name: app, keys: ['~app:*'], commands: ['+@read']}]}\n",
        "acl.users[0].keys[0]: write the pattern without the ACL prefix '~', got '~app:*' (line 2)",
    ),
    (
        "name: acme\nacl: {users: [{name: a, commands: ['+@read']},"
        " {name: a, commands: ['+get']}]}\n",
        "acl.users: user 'a' is defined twice (line 2)",
    ),
    (
        "name: acme\naccess: {publish: ingress}\n",
        "access.publish: must be one of 'host' or 'none', got 'ingress' (line 2)",
    ),
    ("name: acme\naccess: {base_port: 80}\n", "access.base_port: must be >= 1024, got 80 (line 2)"),
    (
        "name: acme\naccess: {base_port: 65533}\n",
        "access.base_port: the 6 nodes publish ports 65533..65538, which must be <= 65535 (line 2)",
    ),
    (
        "name: acme\naccess: {base_port: 7941}\n",
        "access.base_port: the nodes publish ports 7941..7946, which include 7946 (node gossip)"
        " that the engine of every Swarm host listens on: choose a base_port whose range"
        " avoids it (line 2)",
    ),
    (
        "name: acme\nreplicas: 2\naccess: {base_port: 2370}\n",
        "access.base_port: the nodes publish ports 2370..2378, which include 2377 (cluster"
        " management) that the engine of every Swarm host listens on: choose a base_port whose"
        " range avoids it (line 3)",
    ),
    (
        "name: acme\nannounce: host\naccess: {publish: none}\n",
        "announce: host needs access.publish: host (nodes announce their published ports) (line 2)",
    ),
    (
        "name: acme\ntls: {enabled: false}\n",
        "tls.enabled: false is not supported: swarmredis reaches, checks and links every node"
        " over TLS only; remove the key (TLS is always on) or set it to true (line 2)",
    ),
    (
        "name: acme\nconfig: {tls-port: 6380}\n",
        "config.tls-port: 'tls-port' is not allowed in config (swarmredis manages it) (line 2)",
    ),
    (
        "name: acme\nconfig: {maxmemory: 1gb}\n",
        "config.maxmemory: 'maxmemory' is not allowed in config (set it with resources.memory and"
        " resources.maxmemory_ratio) (line 2)",
    ),
    (
        "name: acme\nconfig: {rename-command: FLUSHALL}\n",
        "config.rename-command: 'rename-command' is not allowed in config (swarmredis manages it)"
        " (line 2)",
    ),
    ("name: acme\nupdate: {parallelism: 0}\n", "update.parallelism: must be >= 1, got 0 (line 2)"),
    (
        "name: acme\nupdate: {delay: soon}\n",
        "update.delay: must be a duration like 5s or 500ms, got 'soon' (line 2)",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[t.split("\n")[-2] for t, _ in BAD])
def test_each_bad_field_has_its_own_message(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_stack(text, source="stacks/x.yaml")
    message = str(caught.value)
    assert message == f"stacks/x.yaml: {expected}"


def test_messages_are_distinct() -> None:
    messages = set()
    for text, _ in BAD:
        with pytest.raises(SpecError) as caught:
            parse_stack(text, source="stacks/x.yaml")
        messages.add(str(caught.value))
    assert len(messages) == len(BAD)


def test_several_errors_are_reported_together() -> None:
    with pytest.raises(SpecError) as caught:
        parse_stack("name: acme\nport: 0\nimage: ''\nfoo: 1\n", source="s.yaml")
    lines = str(caught.value).splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["image", "port", "foo"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: acme\n  bad: [\n", "s.yaml: line 2, column 6: YAML syntax error"),
        ("name: acme\nname: other\n", "s.yaml: line 2, column 1: YAML syntax error: duplicate key"),
        ("", "s.yaml: the stack file must be a mapping of fields, it is empty"),
        ("- a\n", "s.yaml: the stack file must be a mapping of fields, it is a list"),
    ],
)
def test_yaml_problems_name_line_and_column(text: str, expected: str) -> None:
    with pytest.raises(SpecError, match="^" + expected.replace("[", r"\[")):
        parse_stack(text, source="s.yaml")


def test_missing_file_is_a_spec_error(tmp_path: object) -> None:
    from pathlib import Path

    from swarmredis.stackfile import load_stack

    missing = Path(str(tmp_path)) / "nope.yaml"
    with pytest.raises(SpecError, match=r"nope\.yaml: cannot read stack file"):
        load_stack(missing)

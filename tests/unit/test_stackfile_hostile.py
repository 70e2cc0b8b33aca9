"""Hostile stack files, case by case: each refused with its field (or line) and what to do.

YAML bombs, huge files, non-UTF-8, duplicate keys, unsafe tags, and names and values
that would break out of redis.conf, the ACL file or Docker's names; then the same
through the CLI (`python -m swarmredis plan FILE`): exit code 4, no traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from testkit.sinks import assert_sinks_safe

from swarmredis.errors import EXIT_USAGE, SpecError
from swarmredis.stackfile import load_stack, parse_stack
from swarmredis.stackfile.reader import MAX_BYTES

SRC = "s.yaml"


def billion_laughs() -> str:
    """Nine levels of ten aliases: 10^9 strings once expanded, 400 bytes of YAML."""
    lines = ["a: &a [" + ",".join(['"lol"'] * 10) + "]"]
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\nname: acme\n"


def user(**fields: object) -> str:
    """A stack with one ACL user (line 4), ``fields`` overriding a valid one."""
    entry = {"name": "app", "commands": ["+@read"], **fields}
    return "name: acme\nacl:\n  users:\n    - " + json.dumps(entry) + "\n"


def refusal(text: str) -> str:
    with pytest.raises(SpecError) as caught:
        parse_stack(text, source=SRC)
    assert caught.value.exit_code == EXIT_USAGE
    return str(caught.value)


# (text, the exact start of the message after "s.yaml: ")
YAML_CASES = [
    pytest.param(
        billion_laughs(),
        "line 5, column 4: aliases (`*name`) expand the document to more than 20000 values",
        id="billion-laughs",
    ),
    pytest.param(
        "name: acme\nresources:\n  memory: 1G\n  memory: 2G\n",
        "line 4, column 3: YAML syntax error: duplicate key 'memory'",
        id="duplicate-nested",
    ),
    pytest.param(
        "name: acme\nmode: cluster\nname: evil\n",
        "line 3, column 1: YAML syntax error: duplicate key 'name'",
        id="duplicate-top",
    ),
    pytest.param(
        "name: !!python/object/apply:os.system ['id']\n",
        "line 1, column 7: tag '!!python/object/apply:os.system' is not allowed in a stack file",
        id="python-apply",
    ),
    pytest.param(
        "name: acme\nimage: !!python/object:os.system {}\n",
        "line 2, column 8: tag '!!python/object:os.system' is not allowed",
        id="python-object",
    ),
    pytest.param(
        "name: !!python/name:os.system\n",
        "line 1, column 7: tag '!!python/name:os.system' is not allowed",
        id="python-name",
    ),
    pytest.param(
        "name: !!python/module:os\n",
        "line 1, column 7: tag '!!python/module:os' is not allowed",
        id="python-module",
    ),
    pytest.param("name: !!binary YWNtZQ==\n", "line 1, column 7: tag '!!binary'", id="binary"),
    pytest.param(
        "name: acme\nplacement: {constraints: !!set {a: null}}\n",
        "line 2, column 26: tag '!!set' is not allowed",
        id="set",
    ),
    pytest.param("name: !env HOME\n", "line 1, column 7: tag '!env' is not allowed", id="local"),
    pytest.param(
        "name: acme\nplacement: &p {constraints: *p}\n",
        "line 2, column 12: an alias makes this list or mapping contain itself",
        id="recursive-alias",
    ),
    pytest.param(
        "name: acme\nconfig: " + "[" * 5000 + "]" * 5000 + "\n",
        "line 2, column 58: lists or mappings are nested more than 50 levels deep",
        id="deep-nesting",
    ),
    pytest.param(
        "name: acme\nconfig: [" + ",".join(["1"] * 30000) + "]\n",
        "line 2, column 40000: the document has more than 20000 values",
        id="too-many-values",
    ),
    pytest.param(
        "name: acme\nreplicas: " + "9" * 5000 + "\n",
        "line 2, column 11: integer longer than 64 characters",
        id="huge-integer",
    ),
    pytest.param(
        "name: acme\n? [a, b]\n: 1\n",
        "line 2, column 3: a mapping key must be a plain value, not a list or mapping",
        id="list-as-key",
    ),
    pytest.param(
        "name: acme\x00\n", "line 1, column 11: character U+0000 is not allowed", id="nul"
    ),
    pytest.param(
        "name: acme\nimage: \x1b[31mred\n",
        "line 2, column 8: character U+001B is not allowed",
        id="terminal-escape",
    ),
]


@pytest.mark.parametrize(("text", "start"), YAML_CASES)
def test_hostile_yaml_is_refused_fast_and_small(text: str, start: str) -> None:
    tracemalloc.start()
    began = time.perf_counter()
    try:
        message = refusal(text)
        elapsed = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message.startswith(f"{SRC}: {start}"), message
    # measured: the bomb 9 ms and < 0.1 MiB, 5000 brackets 0.12 s (1.2 s traced)
    assert elapsed < 5.0
    assert peak < 32 * 1024**2


def test_merge_keys_still_work() -> None:
    stack = parse_stack(
        "name: acme\nupdate: &u {parallelism: 2}\nresources: {<<: {memory: 1G}, cpus: 2}\n"
    )
    assert (stack.update.parallelism, stack.resources.memory, stack.resources.cpus) == (
        2,
        1024**3,
        2.0,
    )


# (text, field path, a fragment of its message)
FIELD_CASES = [
    ('name: "acme\\n"\n', "name", "starting with a letter, got 'acme\\n'"),
    ('name: "acme\\r"\n', "name", "got 'acme\\r'"),
    ('name: "ac me"\n', "name", "got 'ac me'"),
    ('name: "ac\'me"\n', "name", 'got "ac\'me"'),
    ('name: "ac\\"me"\n', "name", "got 'ac\"me'"),
    ('name: ".."\n', "name", "got '..'"),
    ('name: "a/b"\n', "name", "got 'a/b'"),
    ("name: " + "a" * 32 + "\n", "name", "must be 1-31 lowercase letters"),
    ('name: acme\nnetwork: {name: "net\\n"}\n', "network.name", "(Swarm's rule), got 'net\\n'"),
    ('name: acme\nnetwork: {name: "my net"}\n', "network.name", "got 'my net'"),
    ('name: acme\nnetwork: {name: "a..b"}\n', "network.name", "got 'a..b'"),
    ('name: acme\nnetwork: {name: "a/b"}\n', "network.name", "got 'a/b'"),
    ("name: acme\nnetwork: {name: net-}\n", "network.name", "ending with a letter or digit"),
    ("name: acme\nnetwork: {name: " + "n" * 64 + "}\n", "network.name", "must be 1-63"),
    (user(name="app\n"), "acl.users[0].name", "got 'app\\n'"),
    (user(name="app user"), "acl.users[0].name", "got 'app user'"),
    (user(name="app>pw"), "acl.users[0].name", "got 'app>pw'"),
    (user(name="app#x"), "acl.users[0].name", "got 'app#x'"),
    (user(name="~app"), "acl.users[0].name", "got '~app'"),
    (user(name="&app"), "acl.users[0].name", "got '&app'"),
    (user(name="+@all"), "acl.users[0].name", "got '+@all'"),
    (user(name="u" * 65), "acl.users[0].name", "must be 1-64 letters"),
    (user(keys=["app:* +@all"]), "acl.users[0].keys[0]", "without spaces"),
    (user(keys=["app:*\n"]), "acl.users[0].keys[0]", "got 'app:*\\n'"),
    (user(keys=["app\u0001"]), "acl.users[0].keys[0]", "control characters, got 'app\\x01'"),
    (user(keys=["~app:*"]), "acl.users[0].keys[0]", "without the ACL prefix '~'"),
    (user(keys=["%RW~app:*"]), "acl.users[0].keys[0]", "without the ACL prefix"),
    (user(channels=["ev ents"]), "acl.users[0].channels[0]", "got 'ev ents'"),
    (user(channels=["&ev"]), "acl.users[0].channels[0]", "without the ACL prefix '&'"),
    (user(commands=["+@read +@all"]), "acl.users[0].commands[0]", "got '+@read +@all'"),
    (user(commands=["+get\n"]), "acl.users[0].commands[0]", "got '+get\\n'"),
    (user(commands=[">pw"]), "acl.users[0].commands[0]", "got '>pw'"),
    (user(commands=["#" + "0" * 64]), "acl.users[0].commands[0]", "+<command>|<subcommand>"),
    (user(commands=["nopass"]), "acl.users[0].commands[0]", "got 'nopass'"),
    (
        'name: acme\nconfig: {maxmemory-policy: "allkeys-lru\\nloadmodule /tmp/x.so"}\n',
        "config.maxmemory-policy",
        "must have a non-empty value on one line, without control characters",
    ),
    (
        'name: acme\nconfig: {maxmemory-policy: "allkeys-lru\\r"}\n',
        "config.maxmemory-policy",
        "got 'allkeys-lru\\r'",
    ),
    (
        "name: acme\nconfig: {maxmemory-policy: 'allkeys-lru\"'}\n",
        "config.maxmemory-policy",
        "quotes are not allowed",
    ),
    ('name: acme\nconfig: {"hz\\n": 20}\n', "config['hz\\n']", "not a redis.conf directive"),
    ('name: acme\nconfig: {"a.b": 20}\n', "config['a.b']", "not a redis.conf directive"),
    ('name: acme\nconfig: {"²": 20}\n', "config['²']", "not a redis.conf directive"),
    ("name: acme\nconfig: {loadmodule: /tmp/x.so}\n", "config.loadmodule", "is not allowed"),
    (
        'name: acme\npersistence: {save: "3600 1\\nloadmodule x"}\n',
        "persistence.save",
        "must be pairs of '<seconds> <changes>'",
    ),
    # fullwidth digits: str.isdigit() takes them, Redis does not
    (
        'name: acme\npersistence: {save: "\uff13\uff16\uff10\uff10 1"}\n',
        "persistence.save",
        "pairs",
    ),
    (
        'name: acme\nplacement: {constraints: ["node.labels.zone == a\\nb"]}\n',
        "placement.constraints[0]",
        "must look like 'node.labels.<key> == <value>'",
    ),
    (
        'name: acme\nplacement: {constraints: ["node.labels.zone == a\\"b"]}\n',
        "placement.constraints[0]",
        "(Swarm refuses others), got 'a\"b'",
    ),
    (
        'name: acme\nplacement: {constraints: ["node.labels.zone == a==b"]}\n',
        "placement.constraints[0]",
        "got 'a==b'",
    ),
    (
        'name: acme\nplacement: {spread: "node.labels.zone\\n"}\n',
        "placement.spread",
        "got 'node.labels.zone\\n'",
    ),
    ('name: acme\nimage: "redis:7.0\\n"\n', "image", "got 'redis:7.0\\n'"),
    ('name: acme\nimage: "redis 7.0"\n', "image", "must be an image reference"),
    ('name: acme\nimage: "Redis:7"\n', "image", "(lowercase path"),
    ('name: acme\nimage: "redis:7.0;rm -rf /"\n', "image", "must be an image reference"),
    ('name: acme\nimage: "redis@sha256:abc"\n', "image", "must be an image reference"),
    ("name: acme\nupdate: {delay: .inf}\n", "update.delay", "must be <= 86400.0, got inf"),
    (
        "name: acme\nmode: replication\nsentinel: {down_after: .inf}\n",
        "sentinel.down_after",
        "must be <= 86400.0",
    ),
    ("name: acme\nresources: {memory: 100T}\n", "resources.memory", "must be <= 64T, got 100T"),
]


@pytest.mark.parametrize(
    ("text", "path", "fragment"), FIELD_CASES, ids=[f"{p}:{f[:24]}" for _, p, f in FIELD_CASES]
)
def test_injection_is_refused_with_the_field_named(text: str, path: str, fragment: str) -> None:
    message = refusal(text)
    lines = [line for line in message.split("\n") if line.startswith(f"{SRC}: {path}: ")]
    assert len(lines) == 1, message
    assert fragment in lines[0], lines[0]
    assert lines[0].endswith(")") and "(line " in lines[0], lines[0]


@pytest.mark.parametrize(
    "image",
    ["redis:7.0", "redis", "library/redis:7.2-alpine", "registry.example:5000/team/redis:7.2",
     "redis@sha256:" + "a" * 64, "ghcr.io/org/redis-stack:7.2.0-v9"],
)  # fmt: skip
def test_real_image_references_are_accepted(image: str) -> None:
    assert parse_stack(f"name: acme\nimage: {image}\n").image == image


def test_quotes_and_marks_inside_acl_patterns_stay_one_rule() -> None:
    # redis-server 7.0.15 loads `~a"b ~x>y ~#z` from an ACL file as three patterns
    stack = parse_stack(user(keys=['a"b', "x>y", "#z"], channels=["c'd"]))
    assert stack.acl.users[0].keys == ('a"b', "x>y", "#z")
    assert_sinks_safe(stack)


def test_longest_names_fit_swarm_limits() -> None:
    """A 31-character name, 100 shards x 5 replicas: every object name passes Swarm."""
    name = "a" + "b" * 30
    stack = parse_stack(f"name: {name}\nshards: 100\nreplicas: 5\naccess: {{publish: none}}\n")
    assert stack.redis_count == 600
    assert_sinks_safe(stack)
    sentinels = parse_stack(f"name: {name}\nmode: replication\nsentinel: {{count: 9}}\n")
    assert_sinks_safe(sentinels)


def test_file_over_one_mib_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"name: acme\n" + b"#" * MAX_BYTES)
    with pytest.raises(SpecError) as caught:
        load_stack(path)
    assert str(caught.value) == f"{path}: the stack file is larger than 1024 KiB (1 MiB), the limit"
    with pytest.raises(SpecError, match=r"^s\.yaml: the stack file is larger than 1024 KiB"):
        parse_stack("name: acme\n" + "é" * (MAX_BYTES // 2), source=SRC)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"name: acme\nimage: caf\xe9\n", "line 2, column 11: not UTF-8 (byte 0xe9)"),
        ("name: acme\n".encode("utf-16"), "line 1, column 1: not UTF-8 (byte 0xff)"),
        (b"\xc0\xaf", "line 1, column 1: not UTF-8 (byte 0xc0)"),
    ],
    ids=["latin-1", "utf-16", "overlong"],
)
def test_non_utf8_names_line_and_byte(tmp_path: Path, data: bytes, where: str) -> None:
    path = tmp_path / "enc.yaml"
    path.write_bytes(data)
    with pytest.raises(SpecError) as caught:
        load_stack(path)
    assert str(caught.value) == f"{path}: {where}; save the stack file as UTF-8"


# Through the CLI: the loader fails before any Docker call; DOCKER_HOST points nowhere
# so that even a file that loaded could not reach an engine.
CLI_CASES = [
    (billion_laughs().encode(), "aliases (`*name`) expand the document"),
    (b"name: acme\nimage: caf\xe9\n", "line 2, column 11: not UTF-8"),
    (b"name: !!python/object/apply:os.system ['id']\n", "tag '!!python/object/apply:os.system'"),
    (b'name: "acme\\n"\n', "name: must be 1-31 lowercase letters"),
    (b'name: acme\nconfig: {maxmemory-policy: "lru\\nloadmodule /x.so"}\n', "config.maxmemory"),
    (b"name: acme\n" + b"#" * MAX_BYTES, "larger than 1024 KiB (1 MiB)"),
]


def _plan(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "swarmredis", "plan", str(path), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(("data", "fragment"), CLI_CASES, ids=[f for _, f in CLI_CASES])
def test_cli_plan_refuses_with_exit_4_and_no_traceback(
    tmp_path: Path, data: bytes, fragment: str
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(data)
    result = _plan(path)
    output = result.stdout + result.stderr
    assert result.returncode == EXIT_USAGE, output
    assert "Traceback" not in output
    assert fragment in result.stderr and str(path) in result.stderr, result.stderr


def test_cli_plan_json_error_is_one_json_line(tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(b"name: acme\nacl: {users: [{name: \"app\\n\", commands: ['+@read']}]}\n")
    result = _plan(path, "--json")
    assert result.returncode == EXIT_USAGE
    (line,) = result.stderr.splitlines()
    error = json.loads(line)
    assert (error["error"], error["exit_code"]) == ("SpecError", EXIT_USAGE)
    assert error["message"].startswith(f"{path}: acl.users[0].name: must be 1-64 letters")

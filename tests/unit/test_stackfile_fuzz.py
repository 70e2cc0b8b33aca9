"""Fuzzing the stack-file loader: a valid Stack or a SpecError naming the field, never a crash.

Inputs: random YAML documents (free-form, and shaped like a stack file with hostile
values), random mutations of every example stack (of its data: delete, replace, retype,
insert; and of its text: YAML syntax and hostile strings spliced in), and random bytes.
Every outcome is checked:

- a ``SpecError`` (exit code 4) whose every line starts with the file name and then
  names a field path of the stack model, an unknown field, or a line and column, each
  on one line (a newline in a value never splits a message) and of bounded length;
- or a ``Stack`` whose strings reach redis.conf, the ACL file and Swarm intact
  (``testkit.sinks``);
- any other exception fails the test.

Deterministic in CI: ``derandomize`` and no example database. ~10 s in all.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testkit.sinks import assert_sinks_safe

from swarmredis.errors import EXIT_USAGE, SpecError
from swarmredis.stackfile import Stack, load_stack, parse_stack
from swarmredis.stackfile.model import (
    ACL,
    TLS,
    Access,
    Network,
    Persistence,
    Placement,
    Resources,
    Sentinel,
    Update,
)

STACKS = Path(__file__).resolve().parents[2] / "stacks"
EXAMPLES = sorted(STACKS.glob("*.yaml"))
SOURCE = "fuzz.yaml"
FIELDS = frozenset(Stack.model_fields)
SECTIONS: dict[str, Any] = {
    "network": Network,
    "placement": Placement,
    "resources": Resources,
    "persistence": Persistence,
    "tls": TLS,
    "acl": ACL,
    "access": Access,
    "sentinel": Sentinel,
    "update": Update,
}
MAX_LINE = 1000  # a message line quotes values cut short, never a whole input

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=2000,  # ms; a parse takes a few: only a hang or a blow-up gets near this
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Strings that break out of a redis.conf line, an ACL rule, a Docker name or a terminal.
HOSTILE = [
    "",
    " ",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\x00",
    "\x0b",
    "\x1b[2J",
    "\u2028",
    "\x85",
    "'",
    '"',
    "\\",
    "..",
    "/",
    "../../etc",
    "a b",
    "+@all",
    ">secret",
    "#" + "0" * 64,
    "~*",
    "&*",
    "%RW~*",
    "nopass",
    "allkeys-lru\nloadmodule /tmp/x.so",
    "x" * 64,
    "y" * 400,
    "$(id)",
    "`id`",
    ";rm -rf /",
    "${HOME}",
    "é",
    "²",
    "==",
    "*",
    "-",
    "A",
    "0",
    "node.labels.zone",
    "redis:7.0",
]
PLAIN = ["acme", "app", "node.labels.zone == a", "+@read", "allkeys-lru", "1G", "5s", ""]
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=24),
    st.tuples(st.sampled_from(PLAIN), st.sampled_from(HOSTILE), st.sampled_from(PLAIN)).map(
        "".join
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    hostile_text,
)
keys = st.one_of(st.sampled_from(sorted(FIELDS)), hostile_text, st.integers(-3, 3))
documents = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=5),
    max_leaves=24,
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))


def check(load: Any) -> Stack | SpecError:
    """Run ``load()``: a Stack whose sinks are intact, or a clean SpecError; nothing else."""
    try:
        stack = load()
    except SpecError as error:
        assert_clean(error)
        return error
    assert isinstance(stack, Stack)
    assert_sinks_safe(stack)
    return stack


def assert_clean(error: SpecError) -> None:
    """Each line names the file, then a field path, an unknown field or a line."""
    assert error.exit_code == EXIT_USAGE
    lines = str(error).split("\n")
    for line in lines:
        assert line.startswith(f"{SOURCE}: "), line
        assert len(line) <= MAX_LINE, line[:200]
        rest = line[len(SOURCE) + 2 :]
        if re.match(r"line \d+, column \d+: \S", rest) or rest.startswith(
            ("the stack file ", "YAML syntax error", "(top level): ")
        ):
            continue
        head = re.match(r"[A-Za-z0-9_-]+(?=[.\[:])", rest)
        if head and head.group() in FIELDS:
            continue
        assert "unknown field" in rest or "Keys should be strings" in rest, line


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@settings(FUZZ, max_examples=300)
@given(documents)
def test_random_yaml_documents(data: Any) -> None:
    check(lambda: parse_stack(dump(data), source=SOURCE))


@st.composite
def stack_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """A stack file's shape (its real fields and sections) with random, hostile values."""
    out: dict[str, Any] = {"name": draw(st.sampled_from(["acme", "shop"]) | hostile_text)}
    for field in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=6, unique=True)):
        section = SECTIONS.get(field)
        if section is None:
            out[field] = draw(values | st.dictionaries(hostile_text, values, max_size=3))
            continue
        names = sorted(section.model_fields)
        chosen = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
        out[field] = {name: draw(_section_value(field, name)) for name in chosen}
    return out


def _section_value(section: str, name: str) -> st.SearchStrategy[Any]:
    if (section, name) == ("acl", "users"):
        user = st.fixed_dictionaries(
            {"name": hostile_text, "commands": st.lists(hostile_text, min_size=1, max_size=3)},
            optional={f: st.lists(hostile_text, max_size=3) for f in ("keys", "channels")},
        )
        return st.lists(user, max_size=2)
    return values


@settings(FUZZ, max_examples=400)
@given(stack_shaped())
def test_stack_shaped_documents_with_hostile_values(data: dict[str, Any]) -> None:
    check(lambda: parse_stack(dump(data), source=SOURCE))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in nested dicts and lists, in document order."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _mutate(data: Any, path: tuple[Any, ...], op: str, value: Any) -> None:
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "replace":
        parent[last] = value
    elif op == "retype":
        old = parent[last]
        parent[last] = [old] if not isinstance(old, list) else {"x": old}
    elif op == "stringify":
        parent[last] = str(parent[last])
    elif op == "splice" and isinstance(parent[last], str):
        parent[last] = parent[last] + str(value)
    elif op == "insert" and isinstance(parent[last], dict):
        parent[last][str(value)] = "x"


OPS = ["delete", "replace", "retype", "stringify", "splice", "insert"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_mutations_of_the_example_stacks(example: Path, data: st.DataObject) -> None:
    document = copy.deepcopy(_example(example))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        paths = _paths(document)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        op = data.draw(st.sampled_from(OPS), label="op")
        _mutate(document, path, op, data.draw(hostile_text | scalars, label="value"))
    check(lambda: parse_stack(dump(document), source=SOURCE))


def _string_slots(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], bool]]:
    """(path, is_key) of every string value, and of every key of ``config``."""
    out: list[tuple[tuple[Any, ...], bool]] = []
    if isinstance(node, str):
        out.append((prefix, False))
    elif isinstance(node, dict):
        for key, value in node.items():
            if prefix == ("config",):
                out.append(((*prefix, key), True))
            out += _string_slots(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _string_slots(value, (*prefix, index))
    return out


def _place(old: str, piece: str, where: str) -> str:
    middle = len(old) // 2
    return {
        "prefix": piece + old,
        "suffix": old + piece,
        "middle": old[:middle] + piece + old[middle:],
        "replace": piece,
    }[where]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
@settings(FUZZ, max_examples=400)
@given(data=st.data())
def test_hostile_strings_in_every_string_field(example: Path, data: st.DataObject) -> None:
    """One string of a valid stack (a value or a config key) gets a hostile piece."""
    document = copy.deepcopy(_example(example))
    path, is_key = data.draw(st.sampled_from(_string_slots(document)), label="slot")
    piece = data.draw(st.sampled_from(HOSTILE), label="piece")
    where = data.draw(st.sampled_from(["prefix", "suffix", "middle", "replace"]), label="where")
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    if is_key:
        parent[_place(path[-1], piece, where)] = parent.pop(path[-1])
    else:
        parent[path[-1]] = _place(parent[path[-1]], piece, where)
    check(lambda: parse_stack(dump(document), source=SOURCE))


# YAML syntax and hostile strings, spliced into the text (comments and all).
SPLICES = [
    *HOSTILE,
    ":",
    "- ",
    "  ",
    "&a ",
    "*a",
    "*nope",
    "<<: *a\n",
    "!!python/object/apply:os.system ['id'] ",
    "!!binary aGk= ",
    "!custom ",
    "{",
    "}",
    "[",
    "? ",
    "|\n",
    "%YAML 1.1\n---\n",
    "\n---\n",
    "\ufeff",
]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_text_splices_into_the_example_stacks(example: Path, data: st.DataObject) -> None:
    text = example.read_text(encoding="utf-8")
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="splices")):
        at = data.draw(st.integers(min_value=0, max_value=len(text)), label="at")
        piece = data.draw(st.sampled_from(SPLICES) | st.text(max_size=8), label="piece")
        text = text[:at] + piece + text[at:]
    check(lambda: parse_stack(text, source=SOURCE))


@settings(FUZZ, max_examples=300)
@given(st.binary(max_size=400), st.sampled_from([b"", b"name: acme\n", b"name: acme\nconfig:\n"]))
def test_random_bytes_from_a_file(tmp_path: Path, noise: bytes, head: bytes) -> None:
    path = tmp_path / SOURCE
    path.write_bytes(head + noise)
    check(lambda: _load_as_source(path))


def _load_as_source(path: Path) -> Stack:
    """``load_stack`` on ``path``, its messages renamed to ``SOURCE`` for ``assert_clean``."""
    try:
        return load_stack(path)
    except SpecError as error:
        raise SpecError(str(error).replace(str(path), SOURCE)) from None


_CACHE: dict[Path, Any] = {}


def _example(path: Path) -> Any:
    if path not in _CACHE:
        _CACHE[path] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return _CACHE[path]

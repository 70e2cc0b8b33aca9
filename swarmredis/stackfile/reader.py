"""Stack file bytes -> YAML node graph and plain data, refusing what no stack file needs.

A stack file is a few hundred lines of mappings, lists and scalars, so the reader is
strict where YAML is generous, and every refusal is a ``SpecError`` naming the file (and
line where known) instead of a traceback or a hang:

- more than ``MAX_BYTES`` (1 MiB): refused before parsing (PyYAML composes ~1 MiB/s);
- bytes that are not UTF-8, or characters YAML forbids (NUL, other control characters);
- duplicate keys (plain YAML silently keeps the last one);
- tags other than the core schema's (``!!python/object``, ``!!binary``, ``!custom``...);
- a list or mapping as a mapping key;
- more than ``MAX_NODES`` values, or lists or mappings nested more than ``MAX_DEPTH``
  levels, counted while composing (PyYAML composes recursively, ~3 s per 150000 values),
  so the rest of a hostile file is never read;
- integers longer than ``MAX_INT_CHARS`` (int() and repr() raise past 4300 digits);
- aliases that expand the document past ``MAX_NODES`` values (the billion-laughs bomb:
  nine levels of ten aliases compose in microseconds, then cost 10^9 values to
  validate), and aliases that make a list or mapping contain itself.

Refusals from the composer and the graph check raise ``SpecError`` directly; the YAML
library's own errors are translated in ``parse_yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from swarmredis.errors import SpecError

MAX_BYTES = 1024 * 1024
MAX_NODES = 20_000  # values of a document, aliases expanded; a stack file has a few hundred
MAX_DEPTH = 50
# Python refuses int() of more than 4300 digits (ValueError, CVE-2020-10735 guard);
# no field needs more than 20.
MAX_INT_CHARS = 64
_CORE = "tag:yaml.org,2002:"
MERGE_TAG = _CORE + "merge"
# The core schema plus merge keys and the timestamps SafeLoader resolves from plain
# scalars such as 2026-01-31 (the fields then say "must be a string").
ALLOWED_TAGS = frozenset(
    _CORE + name for name in ("null", "bool", "int", "float", "str", "seq", "map", "timestamp")
) | {MERGE_TAG}


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, and documents too large or too deep."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source = source
        self.nodes = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _refused(self.source, mark, _TOO_MANY)
        if self.depth >= MAX_DEPTH:
            raise _refused(self.source, mark, _TOO_DEEP)
        self.depth += 1
        try:
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue  # `<<: *base` merges; later explicit keys override on purpose
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_text(path: str | Path) -> str:
    """The text of the stack file at ``path``: at most ``MAX_BYTES``, valid UTF-8."""
    source = str(path)
    try:
        with Path(path).open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as error:
        raise SpecError(f"{source}: cannot read stack file: {error.strerror or error}") from None
    if len(data) > MAX_BYTES:
        raise SpecError(_too_big(source))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise SpecError(
            f"{source}: line {line}, column {column}: not UTF-8 (byte"
            f" 0x{data[error.start]:02x}); save the stack file as UTF-8"
        ) from None


def parse_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The node graph and the plain data of one YAML document, checked as above."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError(_too_big(source))
    loader: _UniqueKeyLoader | None = None
    try:
        loader = _UniqueKeyLoader(text, source)
        root = loader.get_single_node()
        if root is None:
            return None, None
        _check_graph(root, source)
        return root, loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = error.problem or error.context or "invalid YAML"
        raise SpecError(f"{source}: {where}: YAML syntax error: {problem}") from None
    except yaml.reader.ReaderError as error:
        char = error.character if isinstance(error.character, int) else ord(error.character)
        raise SpecError(
            f"{source}: {_position(text, error.position)}: character U+{char:04X}"
            " is not allowed in YAML; remove it"
        ) from None
    except yaml.YAMLError as error:
        raise SpecError(f"{source}: YAML syntax error: {error}") from None
    except RecursionError:
        raise SpecError(f"{source}: {_TOO_DEEP}") from None
    finally:
        if loader is not None:
            loader.dispose()  # type: ignore[no-untyped-call]


_TOO_DEEP = f"lists or mappings are nested more than {MAX_DEPTH} levels deep"
_TOO_MANY = f"the document has more than {MAX_NODES} values; a stack file needs a few hundred"


def _too_big(source: str) -> str:
    return f"{source}: the stack file is larger than {MAX_BYTES // 1024} KiB (1 MiB), the limit"


def _position(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"line {line}, column {offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def _check_graph(root: yaml.Node, source: str) -> None:
    """Refuse foreign tags, non-scalar keys, recursive aliases and alias bombs."""
    sizes: dict[int, int] = {}  # id(node) -> values it expands to (memo: each node once)
    open_: set[int] = set()  # nodes on the current path: an alias back to one is a cycle

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_:
            raise _refuse(source, node, "an alias makes this list or mapping contain itself")
        if node.tag not in ALLOWED_TAGS:
            raise _refuse(source, node, _foreign_tag(node.tag))
        if node.tag == _CORE + "int" and len(node.value) > MAX_INT_CHARS:
            raise _refuse(source, node, f"integer longer than {MAX_INT_CHARS} characters")
        total = 1
        if isinstance(node, yaml.CollectionNode):
            open_.add(id(node))
            for child in _children(node, source):
                total += size(child)
                if total > MAX_NODES:
                    raise _refuse(
                        source,
                        node,
                        f"aliases (`*name`) expand the document to more than {MAX_NODES}"
                        " values (a YAML bomb?); a stack file needs a few hundred",
                    )
            open_.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root)


def _foreign_tag(tag: str) -> str:
    shown = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
    return (
        f"tag {shown!r} is not allowed in a stack file: it holds plain strings, numbers,"
        " booleans, lists and mappings (quote a value to make it a string)"
    )


def _children(node: yaml.CollectionNode, source: str) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    out: list[yaml.Node] = []
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise _refuse(source, key, "a mapping key must be a plain value, not a list or mapping")
        out += [key, value]
    return out


def _refuse(source: str, node: yaml.Node, problem: str) -> SpecError:
    return _refused(source, node.start_mark, problem)


def _refused(source: str, mark: yaml.Mark, problem: str) -> SpecError:
    return SpecError(f"{source}: line {mark.line + 1}, column {mark.column + 1}: {problem}")

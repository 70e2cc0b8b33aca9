"""Stack file text -> ``Stack``, with errors that name the file, line and field path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from swarmredis.errors import SpecError
from swarmredis.stackfile.model import Stack
from swarmredis.stackfile.reader import parse_yaml, read_text
from swarmredis.stackfile.rules import shown

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}
_TYPE_WORDS = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "mapping_type": "a mapping",
}


def load_stack(path: str | Path) -> Stack:
    """Read and validate the stack file at ``path`` (at most 1 MiB of UTF-8)."""
    return parse_stack(read_text(path), source=str(path))


def parse_stack(text: str, source: str = "<stack>") -> Stack:
    """Validate stack file ``text``; ``source`` names the file in error messages."""
    root, data = parse_yaml(text, source)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise SpecError(f"{source}: the stack file must be a mapping of fields, it is {kind}")
    try:
        return Stack.model_validate(data)
    except ValidationError as error:
        lines = [_describe(source, root, detail) for detail in error.errors()]
        raise SpecError("\n".join(lines)) from None


def _describe(source: str, root: yaml.Node | None, detail: ErrorDetails) -> str:
    loc = tuple(detail["loc"])
    ctx = detail.get("ctx") or {}
    if detail["type"] == "spec":
        loc = loc + tuple(ctx["loc"])
        message = str(ctx["detail"])
    else:
        message = _message(detail)
    path = _path(loc) or "(top level)"
    line = _line_of(root, loc)
    suffix = f" (line {line})" if line is not None else ""
    return f"{source}: {path}: {message}{suffix}"


def _message(detail: ErrorDetails) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    got = detail.get("input")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {shown(got)}"
    if kind in _BOUNDS:
        symbol, key = _BOUNDS[kind]
        return f"must be {symbol} {ctx.get(key)}, got {shown(got)}"
    if kind in ("too_short", "too_long"):
        return f"must have {'at least' if kind == 'too_short' else 'at most'} " + (
            f"{ctx.get('min_length', ctx.get('max_length'))} item(s)"
        )
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, got {shown(got)}"
    if kind == "value_error":
        return str(ctx.get("error", detail["msg"]))
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, got {shown(got)}"
    return f"{detail['msg']}, got {shown(got)}"


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(str(part)):
            out += f"[{shown(part)}]"  # a key of the user's own: quoted, on one line
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node along ``loc`` (the key itself when known)."""
    node, line = root, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line

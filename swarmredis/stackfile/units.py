"""Parsing of the human units a stack file accepts: memory sizes and durations."""

from __future__ import annotations

import math
import re

from swarmredis.stackfile.rules import shown

_SIZE = re.compile(r" *([0-9]+(?:\.[0-9]+)?) *([kmgt]?)(i?b?) *", re.IGNORECASE)
_FACTORS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_DURATION_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(value: object) -> int:
    """Bytes from an int or a string like ``512M``, ``1G``, ``1.5GiB`` (binary multiples)."""
    if isinstance(value, bool):
        raise ValueError(f"must be a size like 512M or 1G, got {shown(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if match:
            number, unit, _ = match.groups()
            size = float(number) * _FACTORS[unit.lower()]
            if math.isfinite(size):  # 400 digits read as a float are inf
                return int(size)
    raise ValueError(f"must be a size like 512M or 1G, got {shown(value)}")


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like ``5s``, ``500ms``, ``1m30s``."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration like 5s or 500ms, got {shown(value)}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _DURATION_FACTORS[u] for n, u in parts)
    raise ValueError(f"must be a duration like 5s or 500ms, got {shown(value)}")


def format_size(size: int) -> str:
    """The shortest exact binary-unit spelling of a size: ``536870912`` -> ``512M``."""
    for unit in ("t", "g", "m", "k"):
        factor = _FACTORS[unit]
        if size and size % factor == 0:
            return f"{size // factor}{unit.upper()}"
    return str(size)

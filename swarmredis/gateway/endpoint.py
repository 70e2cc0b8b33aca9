"""Where the engine reaches a Redis node: a pure value type, importable without any I/O library."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisEndpoint:
    """Where the engine reaches a node (host address and published TLS port)."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

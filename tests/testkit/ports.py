"""Free loopback ports for peer servers (with their cluster bus port +10000 free too)."""

from __future__ import annotations

import random
import socket

_taken: set[int] = set()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port that is free, and whose cluster bus port (+10000) is free too."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20000, 55000)
        if port in _taken or port + 10000 in _taken:
            continue
        if _port_free(port) and _port_free(port + 10000):
            _taken.update({port, port + 10000})
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")

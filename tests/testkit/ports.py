"""Free loopback ports for peer servers (with their cluster bus port +10000 free too).

They are taken below the kernel's ephemeral range (``ip_local_port_range``), bus port
included. Inside it, an outgoing connection (a replica's link, a Sentinel's, a client's) may
be given the very port a server is about to listen on, and a connect to a port nothing
listens on yet may be given it as its own source port: TCP then connects the socket to itself
and a "listening" check passes for a server that never bound.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

BUS_OFFSET = 10000
LOWEST = 10000
_taken: set[int] = set()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A loopback port that is free, and whose cluster bus port (+10000) is free too, both
    below the ephemeral range."""
    highest = _ephemeral_low() - BUS_OFFSET
    if highest - LOWEST < 1000:
        raise RuntimeError(
            f"the ephemeral port range starts at {highest + BUS_OFFSET}: peer servers need "
            f"ports {LOWEST}..{LOWEST + 1000 + BUS_OFFSET} outside it "
            "(sysctl net.ipv4.ip_local_port_range)"
        )
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(LOWEST, highest)
        if port in _taken or port + BUS_OFFSET in _taken:
            continue
        if _port_free(port) and _port_free(port + BUS_OFFSET):
            _taken.update({port, port + BUS_OFFSET})
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")


def listening(port: int) -> bool:
    """Whether a server accepts connections on the loopback ``port`` (a socket that TCP
    connected to itself is not one)."""
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2) as sock:
            return bool(sock.getsockname() != sock.getpeername())
    except OSError:
        return False

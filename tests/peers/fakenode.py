"""A fake Redis node on 127.0.0.1 that answers what a test scripts: garbage, half replies,
nonsense of the right RESP type, silence, or a closed connection (issue 10).

It speaks TLS with the peer tier's server certificate (the engine only dials TLS) and
reads RESP commands as a client sends them, pipelines included. Each command name
(``AUTH``, ``PING``, ``INFO``, ``CLUSTER NODES``...) maps to an ``Answer``: the bytes to
send, then optionally ``HANG`` (say nothing more) or ``CLOSE`` (drop the connection).
``AUTH`` answers ``+OK`` unless scripted; an unscripted command gets ``-ERR``.
``handshake=False`` accepts TCP and never starts TLS.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from testkit import free_port

from swarmredis.gateway.endpoint import RedisEndpoint


@dataclass(frozen=True)
class ServerFiles:
    """The certificate and key a fake node serves TLS with (one the stack's CA issued)."""

    server_cert: Path
    server_key: Path


Then = Literal["hang", "close", "answer"]
HANG: Then = "hang"
CLOSE: Then = "close"


@dataclass(frozen=True)
class Answer:
    """What the fake node sends for one command, and what it does next."""

    data: bytes = b""
    then: Then = "answer"  # answer: go on reading commands


def bulk(text: str | bytes) -> bytes:
    """A RESP bulk string."""
    raw = text.encode() if isinstance(text, str) else text
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


def array(*items: bytes) -> bytes:
    """A RESP array of already-encoded items."""
    return b"*%d\r\n" % len(items) + b"".join(items)


def integer(value: int) -> bytes:
    """A RESP integer."""
    return b":%d\r\n" % value


OK = Answer(b"+OK\r\n")


@dataclass
class FakeNode:
    """A running fake node: where it listens and the commands it was sent."""

    endpoint: RedisEndpoint
    commands: list[str] = field(default_factory=list)


async def _read_command(reader: asyncio.StreamReader) -> list[bytes]:
    header = await reader.readline()
    if not header.startswith(b"*"):
        raise ConnectionError(f"not a RESP command: {header!r}")
    args = []
    for _ in range(int(header[1:])):
        size = int((await reader.readline())[1:])
        args.append((await reader.readexactly(size + 2))[:-2])
    return args


def _name(args: list[bytes]) -> str:
    words = [a.decode(errors="replace").upper() for a in args[:2]]
    two = " ".join(words)
    return two if words[0] in ("CLUSTER", "SENTINEL", "CONFIG", "CLIENT") else words[0]


@asynccontextmanager
async def fake_node(
    answers: Mapping[str, Answer],
    tls: ServerFiles,
    *,
    handshake: bool = True,
) -> AsyncIterator[FakeNode]:
    """Serve ``answers`` on a free port of 127.0.0.1 until the block ends."""
    node = FakeNode(RedisEndpoint("127.0.0.1", free_port()))
    done = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []
    script = {"AUTH": OK, **answers}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with suppress(ConnectionError, asyncio.IncompleteReadError, ValueError, ssl.SSLError):
            if not handshake:
                await done.wait()
                return
            while not done.is_set():
                name = _name(await _read_command(reader))
                node.commands.append(name)
                answer = script.get(name, Answer(b"-ERR unknown command\r\n"))
                writer.write(answer.data)
                await writer.drain()
                if answer.then == HANG:
                    await done.wait()
                elif answer.then == CLOSE:
                    break
        writer.close()

    context = None
    if handshake:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls.server_cert), str(tls.server_key))
    server = await asyncio.start_server(serve, node.endpoint.host, node.endpoint.port, ssl=context)
    try:
        yield node
    finally:
        done.set()
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()

"""A small HTTP/1.1 server on anyio for the metrics endpoint: GET only, one request per
connection, every read bounded. Enough for Prometheus's scraper and ``curl``; nothing
else of HTTP is needed here, so no web framework (and no thread) is pulled in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
from anyio.abc import SocketAttribute, SocketStream

REQUEST_LIMIT = 8192  # bytes of request line and headers
READ_TIMEOUT_S = 10.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


Handler = Callable[[str], Awaitable[Response]]


async def serve(
    host: str,
    port: int,
    handle: Handler,
    *,
    ready: Callable[[str, int], None] | None = None,
) -> None:
    """Serve ``handle(path)`` on ``host:port`` until cancelled; ``ready(host, port)`` once
    listening (the port the system chose when ``port`` is 0)."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    async with listener:
        if ready is not None:
            bound = listener.extra(SocketAttribute.local_address)
            ready(str(bound[0]), int(bound[1]))

        async def one(stream: SocketStream) -> None:
            async with stream:
                await _answer(stream, handle)

        await listener.serve(one)


async def _answer(stream: SocketStream, handle: Handler) -> None:
    try:
        with anyio.fail_after(READ_TIMEOUT_S):
            head = await _read_head(stream)
    except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, ValueError):
        return  # a client that sends nothing useful gets nothing
    method, _, rest = head.partition(" ")
    path = rest.partition(" ")[0].partition("?")[0]
    if not path.startswith("/"):
        response = Response(400, "text/plain", b"bad request\n")
    elif method not in ("GET", "HEAD"):
        response = Response(405, "text/plain", b"GET only\n")
    else:
        response = await handle(path)
    body = b"" if method == "HEAD" else response.body
    reason = _REASONS.get(response.status, "Error")
    header = (
        f"HTTP/1.1 {response.status} {reason}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    try:
        await stream.send(header.encode("latin-1") + body)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        return  # the scraper gave up meanwhile


async def _read_head(stream: SocketStream) -> str:
    """The request line (headers read and ignored)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
        if len(data) > REQUEST_LIMIT:
            raise ValueError("request too large")
    return data.split(b"\r\n", 1)[0].decode("latin-1")

"""The Docker gateway: every call swarmredis makes to the Docker Engine API goes through here.

Raw API dicts in and out (like aiodocker); what this adds is one place where the
library's errors become ours (``_mapped``), a deadline on every request, and the
few calls the engine needs. Nothing outside ``gateway/`` imports aiodocker.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

import aiodocker
import aiohttp
import anyio

from swarmredis import labels
from swarmredis.constants import DOCKER_TIMEOUT_S
from swarmredis.errors import (
    DockerError,
    DockerUnreachable,
    NotAManager,
    NotInSwarm,
    ObjectNotFound,
)

Kind = Literal["service", "secret", "config", "network"]
_PATHS: dict[str, str] = {
    "service": "services",
    "secret": "secrets",
    "config": "configs",
    "network": "networks",
}
Raw = dict[str, Any]
RawList = list[Raw]  # module-level: inside the class, `list` names the method
RawLines = list[str]


def resolve_host(docker_host: str | None) -> str:
    """The engine address: the option, else ``DOCKER_HOST``, else the local socket."""
    host = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if "://" not in host:
        raise DockerUnreachable(
            f"DOCKER_HOST {host!r} has no scheme",
            hint="use unix:///path/to/docker.sock or tcp://host:2375",
        )
    return host


class DockerGateway:
    """A connection to one Docker engine (a Swarm manager for everything but ``info``)."""

    def __init__(self, client: aiodocker.Docker, host: str, timeout: float) -> None:
        self._client = client
        self.host = host
        self._timeout = timeout
        self.calls: Counter[str] = Counter()  # HTTP method -> requests sent (GET: reads)

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, docker_host: str | None = None, *, request_timeout: float = DOCKER_TIMEOUT_S
    ) -> AsyncIterator[DockerGateway]:
        """Open a client for ``docker_host`` (or ``DOCKER_HOST``); closed on exit."""
        host = resolve_host(docker_host)
        try:
            client = aiodocker.Docker(url=host)
        except (ValueError, ImportError, aiodocker.DockerError) as exc:
            # e.g. ssh:// needs the optional asyncssh package
            raise DockerUnreachable(
                f"cannot use Docker host {host}: {exc}",
                hint="use unix:// or tcp://, or install aiodocker[ssh] for ssh://",
            ) from None
        try:
            yield cls(client, host, request_timeout)
        finally:
            with anyio.CancelScope(shield=True):
                await client.close()

    # ------------------------------------------------------------------ requests
    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        seconds: float | None = None,
    ) -> Any:
        self.calls[method] += 1
        with self._mapped(f"{method} /{path}"):
            with anyio.fail_after(seconds or self._timeout):
                return await self._client._query_json(path, method, params=params, data=body)

    @contextmanager
    def _mapped(self, what: str) -> Iterator[None]:
        """Translate aiodocker/aiohttp/timeout errors into swarmredis errors, in one place."""
        try:
            yield
        except TimeoutError:
            raise DockerUnreachable(
                f"Docker engine at {self.host} did not answer {what} in time",
                hint="is the engine overloaded or the address right?",
            ) from None
        except aiohttp.ClientError as exc:
            raise DockerUnreachable(f"Docker engine at {self.host}: {exc}") from None
        except aiodocker.DockerError as exc:
            raise _translate(exc, self.host, what) from None

    # ------------------------------------------------------------------ engine & swarm
    async def info(self) -> dict[str, Any]:
        """``GET /info`` of the engine."""
        result: dict[str, Any] = await self._call("GET", "info")
        return result

    async def require_manager(self) -> dict[str, Any]:
        """Return ``/info`` if the engine is an active Swarm manager, else raise why not."""
        info = await self.info()
        swarm = info.get("Swarm") or {}
        state = swarm.get("LocalNodeState")
        if state != "active":
            raise NotInSwarm(
                f"the Docker engine at {self.host} is not part of a Swarm"
                f" (state: {state or 'inactive'})",
                hint="run `docker swarm init` on it, or point DOCKER_HOST at a Swarm manager",
            )
        if not swarm.get("ControlAvailable"):
            raise NotAManager(
                f"the Docker engine at {self.host} is a Swarm worker, not a manager",
                hint="point DOCKER_HOST (or --docker-host) at a manager node",
            )
        return info

    async def nodes(self) -> RawList:
        """All Swarm nodes (``GET /nodes``)."""
        result: RawList = await self._call("GET", "nodes")
        return result

    # ------------------------------------------------------------------ stack objects
    async def list(self, kind: Kind, stack: str | None = None) -> RawList:
        """Objects of ``kind`` carrying our stack label (all managed ones if ``stack`` is None)."""
        label = f"{labels.STACK_NAMESPACE}={stack}" if stack else labels.MANAGED
        params = {"filters": json.dumps({"label": [label]})}
        result: RawList = await self._call("GET", _PATHS[kind], params=params)
        return result

    async def create(self, kind: Kind, body: dict[str, Any]) -> str:
        """Create an object from its API body; returns its id."""
        path = "networks/create" if kind == "network" else f"{_PATHS[kind]}/create"
        result = await self._call("POST", path, body=body)
        return str(result.get("ID") or result.get("Id"))

    async def update_service(self, service_id: str, version: int, spec: dict[str, Any]) -> None:
        """Replace a service's spec; ``version`` is the observed ``Version.Index``."""
        await self._call(
            "POST", f"services/{service_id}/update", params={"version": str(version)}, body=spec
        )

    async def update_config(self, config_id: str, version: int, spec: dict[str, Any]) -> None:
        """Replace a config's spec (only its labels may change); ``version`` as observed."""
        await self._call(
            "POST", f"configs/{config_id}/update", params={"version": str(version)}, body=spec
        )

    async def inspect(self, kind: Kind, ident: str) -> dict[str, Any]:
        """One object by id or name."""
        result: dict[str, Any] = await self._call("GET", f"{_PATHS[kind]}/{ident}")
        return result

    async def remove(self, kind: Kind, ident: str) -> None:
        """Delete an object; an object already gone is not an error."""
        try:
            await self._call("DELETE", f"{_PATHS[kind]}/{ident}")
        except ObjectNotFound:
            return

    async def tasks(self, service_ids: Sequence[str]) -> RawList:
        """Tasks of the given services (``GET /tasks``)."""
        if not service_ids:
            return []
        params = {"filters": json.dumps({"service": list(service_ids)})}
        result: RawList = await self._call("GET", "tasks", params=params)
        return result

    async def task_logs(self, task_id: str, lines: int = 5) -> RawLines:
        """The last ``lines`` lines a task wrote (stdout and stderr), oldest first."""
        params = {"stdout": "1", "stderr": "1", "tail": str(lines)}
        self.calls["GET"] += 1
        with self._mapped(f"GET /tasks/{task_id}/logs"), anyio.fail_after(self._timeout):
            async with self._client._query(f"tasks/{task_id}/logs", params=params) as response:
                raw = await response.read()
        return [line for line in demux_log_stream(raw).splitlines() if line.strip()][-lines:]

    async def service_logs(
        self, service_id: str, *, since: float | None, tail: int | None, follow: bool
    ) -> AsyncIterator[str]:
        """A service's log lines, each ``<RFC 3339 time> <task details> <text>``, from every
        task and host (``GET /services/{id}/logs``, timestamps and details on). Without
        ``follow`` the whole read is bounded by the client's timeout; with it, lines come
        as they are written until the caller stops reading."""
        params = {"stdout": "1", "stderr": "1", "timestamps": "1", "details": "1"}
        params["follow"] = "1" if follow else "0"
        params["tail"] = "all" if tail is None else str(tail)
        if since is not None:
            params["since"] = f"{since:.6f}"
        self.calls["GET"] += 1
        what = f"GET /services/{service_id}/logs"
        with self._mapped(what):
            if not follow:
                with anyio.fail_after(self._timeout):
                    async with self._client._query(
                        f"services/{service_id}/logs", params=params
                    ) as response:
                        raw = await response.read()
                for line in demux_log_stream(raw).splitlines():
                    yield line
                return
            async with self._client._query(
                f"services/{service_id}/logs", params=params, timeout=None
            ) as response:
                async for line in _frames(response.content):
                    yield line

    async def images(self) -> RawList:
        """Images on this engine (only this host; other hosts' images are not visible)."""
        result: RawList = await self._call("GET", "images/json")
        return result


async def _frames(content: aiohttp.StreamReader) -> AsyncIterator[str]:
    """Lines of a multiplexed log stream, as its frames arrive (8-byte headers: stream,
    three zero bytes, a big-endian size)."""
    pending = b""
    while True:
        try:
            header = await content.readexactly(8)
            pending += await content.readexactly(int.from_bytes(header[4:8], "big"))
        except asyncio.IncompleteReadError:
            break
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def demux_log_stream(raw: bytes) -> str:
    """Docker's multiplexed log stream (8-byte frame headers) -> text; plain text passes."""
    out: list[bytes] = []
    offset = 0
    while offset + 8 <= len(raw) and raw[offset] in (0, 1, 2):
        if any(raw[offset + 1 : offset + 4]):  # not a frame header: plain text
            break
        size = int.from_bytes(raw[offset + 4 : offset + 8], "big")
        out.append(raw[offset + 8 : offset + 8 + size])
        offset += 8 + size
    if not out:
        return raw.decode("utf-8", "replace")
    return b"".join(out).decode("utf-8", "replace")


def _translate(exc: aiodocker.DockerError, host: str, what: str) -> DockerError:
    message = str(exc.message).strip()
    if exc.status == 900:
        return DockerUnreachable(
            f"no Docker engine reachable at {host}",
            hint="is dockerd running? set DOCKER_HOST or --docker-host to a Swarm manager",
        )
    lowered = message.lower()
    if exc.status == 503 and "not a swarm manager" in lowered:
        if "not part of a swarm" in lowered or "docker swarm init" in lowered:
            return NotInSwarm(
                f"the Docker engine at {host} is not part of a Swarm",
                hint="run `docker swarm init`, or point DOCKER_HOST at a Swarm manager",
                status=503,
            )
        return NotAManager(
            f"the Docker engine at {host} is a Swarm worker, not a manager",
            hint="point DOCKER_HOST (or --docker-host) at a manager node",
            status=503,
        )
    if exc.status == 404:
        return ObjectNotFound(f"{what}: {message}", status=404)
    return DockerError(
        f"Docker engine refused {what}: {message} (HTTP {exc.status})", status=exc.status
    )

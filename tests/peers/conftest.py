"""Fixtures for tests against real local redis-server processes (TLS on 127.0.0.1)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmredis.gateway.redis import Credentials, RedisAccess, TLSClientFiles

from .servers import Lab
from .tlsmaterial import ADMIN_PASSWORD, ADMIN_USER, TLSMaterial, make_material

if shutil.which("redis-server") is None:  # pragma: no cover - the CI image installs it
    pytest.skip("redis-server is not installed", allow_module_level=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    return make_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def access(tls: TLSMaterial) -> RedisAccess:
    files = TLSClientFiles(ca=tls.ca, cert=tls.client_cert, key=tls.client_key)
    return RedisAccess(files, Credentials(ADMIN_USER, ADMIN_PASSWORD), timeout=3.0)


@pytest.fixture
def lab(tls: TLSMaterial, tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tls, tmp_path)
    try:
        yield lab
    finally:
        lab.stop_all()

"""Fixtures for tests against real local redis-server processes (TLS on 127.0.0.1), which
run the configs, ACL files and certificates the product generates."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmredis.gateway.redis import Credentials, RedisAccess, TLSClientFiles
from swarmredis.pki.material import load_admin_credentials
from swarmredis.pki.store import CertStore

from .product import make_store
from .servers import Lab

if shutil.which("redis-server") is None:  # pragma: no cover - the CI image installs it
    pytest.skip("redis-server is not installed", allow_module_level=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> CertStore:
    """The PKI store of the peers' stacks: CA, leaves and passwords, as deploy makes them."""
    return make_store(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def access(store: CertStore) -> RedisAccess:
    """How the engine logs in: the admin's client certificate and password from the store."""
    admin = load_admin_credentials(store)
    files = TLSClientFiles(ca=admin.ca_path, cert=admin.cert_path, key=admin.key_path)
    return RedisAccess(files, Credentials(admin.username, admin.password), timeout=3.0)


@pytest.fixture
def lab(store: CertStore, tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(store, tmp_path)
    try:
        yield lab
    finally:
        lab.stop_all()

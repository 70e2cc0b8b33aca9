"""Shared fixtures: the asyncio backend (aiodocker and redis.asyncio need it)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"

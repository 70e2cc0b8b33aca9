"""Helpers every test tier shares: bounded waits, free ports, the one direct Redis client.

Importable as ``testkit`` from any test (pytest puts ``tests/`` on the path).
"""

from .clients import tls_client
from .ports import free_port, listening
from .wait import eventually, eventually_sync

__all__ = ["eventually", "eventually_sync", "free_port", "listening", "tls_client"]

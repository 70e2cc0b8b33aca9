"""The certificate store and PKI view of a stack, for the commands that work on certificates.

``open_stack`` reads the stack file only; ``open_deployed`` asks the Swarm for the deployed
stack's nodes first (their names after scaling are not the stack file's counts).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from swarmredis.cli.common import run
from swarmredis.errors import PKIError

if TYPE_CHECKING:
    from swarmredis.pki.model import StackPKI
    from swarmredis.pki.store import CertStore
    from swarmredis.stackfile import Stack


def load_with_store(stack_file: Path, certs_dir: Path) -> tuple[Stack, CertStore]:
    """The stack file, and the certificate store of its stack under ``certs_dir``."""
    from swarmredis.pki.store import CertStore
    from swarmredis.stackfile import load_stack

    stack = load_stack(stack_file)
    return stack, CertStore(certs_dir, stack.name, stack_file=str(stack_file))


def open_stack(
    stack_file: Path,
    certs_dir: Path,
    addresses: list[str] | None = None,
) -> tuple[CertStore, StackPKI]:
    from swarmredis.pki.material import stack_pki

    stack, store = load_with_store(stack_file, certs_dir)
    return store, stack_pki(stack, _parse_addresses(addresses or []))


LIVE_READ_S = 15.0  # how long the certificate commands wait for the Swarm's layout


def open_deployed(
    stack_file: Path,
    certs_dir: Path,
    docker_host: str | None,
    addresses: list[str] | None = None,
) -> tuple[CertStore, StackPKI, str]:
    """``open_stack`` for the stack as deployed: its live nodes' names (after scaling they
    are not the stack file's counts: a retired index is never given again), read from the
    Swarm when a manager answers; else the stack file's, and the third value says why."""
    from swarmredis.pki.material import stack_pki

    stack, store = load_with_store(stack_file, certs_dir)
    given = _parse_addresses(addresses or [])
    live, source = run(lambda: _deployed_pki(stack, docker_host, given))
    return store, live or stack_pki(stack, given), source


async def _deployed_pki(
    stack: Stack, docker_host: str | None, addresses: dict[str, list[str]]
) -> tuple[StackPKI | None, str]:
    import anyio

    from swarmredis.engine.flows.plan import DeployOptions, deployed_pki
    from swarmredis.errors import SwarmRedisError
    from swarmredis.gateway.docker import DockerGateway

    try:
        with anyio.fail_after(LIVE_READ_S):
            async with DockerGateway.connect(docker_host) as gateway:
                await gateway.require_manager()
                options = DeployOptions(certs_dir=Path("certs"))
                pki = await deployed_pki(gateway, stack, options, addresses)
    except TimeoutError:
        return None, f"the stack file (the Swarm did not answer within {LIVE_READ_S:g} s)"
    except SwarmRedisError as error:
        return None, f"the stack file (the Swarm could not be read: {error})"
    if pki is None:
        return None, f"the stack file ({stack.name} is not deployed on this Swarm)"
    return pki, "the deployed stack"


def _parse_addresses(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        node, sep, address = item.partition("=")
        if not sep or not node or not address:
            raise PKIError(f"--host-address {item!r}: write NODE=ADDRESS, e.g. node-1=10.0.0.5")
        out.setdefault(node, []).append(address)
    return out

"""The overlay network body on the real engine: encrypted option and subnet as rendered.

IPsec does not pass traffic on this kernel, so an encrypted overlay is tested as
created and inspected, not by sending traffic through it.
"""

from __future__ import annotations

from typing import Any

import pytest
from testkit import eventually

from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.objects import network_object
from swarmredis.stackfile import parse_stack


@pytest.mark.anyio
async def test_encrypted_overlay_with_subnet_is_created_as_planned(
    gateway: DockerGateway,
) -> None:
    stack = parse_stack(
        "name: itnet\nmode: standalone\nnetwork: {encrypted: true, subnet: 10.77.0.0/24}\n",
        source="itnet.yaml",
    )
    body = dict(network_object(stack).spec or {})
    for old in await gateway.list("network", "itnet"):
        await gateway.remove("network", str(old["Id"]))
    ident = await gateway.create("network", body)
    seen: dict[str, Any] = {}

    async def allocated() -> bool:
        # the manager's allocator fills in the driver and IPAM state a moment after the
        # create returns: until then inspect shows Driver "" and no IPAM config
        seen.clear()
        seen.update(await gateway.inspect("network", ident))
        return bool(seen.get("Driver"))

    try:
        await eventually(allocated, 10, "the network allocated by the manager")
        assert seen["Name"] == "itnet_net"
        assert seen["Driver"] == "overlay"
        assert seen["Scope"] == "swarm"
        assert "encrypted" in (seen.get("Options") or {})
        assert [c["Subnet"] for c in seen["IPAM"]["Config"]] == ["10.77.0.0/24"]
        assert seen["Labels"]["com.docker.stack.namespace"] == "itnet"
    finally:
        await gateway.remove("network", ident)

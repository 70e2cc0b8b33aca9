"""`certs rotate` and `users rotate` on the lab (stack `itrot`), while a client writes.

The module deploys one cluster and writes keys; the tests run in file order. First
`certs rotate --force`: every node serves a certificate with a new serial, and a second
run finds nothing to do. Then `certs rotate --ca`, SIGKILLed in the rolling deploy of
each phase and run again: the cluster bus stays up, and until the last phase a client
that holds only the old CA verifies every node; at the end every node serves a leaf of
the new CA, such a client is refused, and the old secrets are gone from Swarm. Last
`users rotate app`: both passwords work on every node, after the rolling restart too,
until `--finish` refuses the old one. Last a live maxmemory change: no task restarts, every
node runs the new value, and keeps it through a restart. Every acknowledged write and
every key reads back; the longest run of failed writes goes to docs/reliability.md.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import yaml
from cryptography import x509
from redis.exceptions import RedisError
from testkit import eventually, eventually_sync
from testkit.ledger import WriteLedger
from testkit.tls import (
    REFUSED,
    ClientFiles,
    ping_reply,
    redis_client,
    served_certificate,
    signed_by,
)

from .conftest import SwarmLab
from .faults import Figure, count_cluster_losses, record
from .helpers import DeployedStack, cli, cluster_client, password, secret_versions, stack_copy
from .runs import Event, deploy_killed_at, rerun
from .underload import longest_error_window, run_under_a_writer

STACK = "itrot"
BASE_PORT = 7900
KEYS = {f"app:rot:{i}": f"v{i}" for i in range(300)}  # on every shard
# two nodes a batch: two replicas, then primaries whose replicas lie outside the batch
PAIRS = {"parallelism": 2, "delay": "1s"}
pytestmark = pytest.mark.logs_on_failure(*(f"{STACK}_node-{i}" for i in range(1, 7)))


class Rotated(DeployedStack):
    @property
    def store(self) -> Path:
        return self.certs / STACK

    def served(self, files: ClientFiles) -> dict[str, x509.Certificate]:
        """The certificate each node serves (by node name), verified with ``files``."""
        return {
            alias.removeprefix(f"{STACK}-"): served_certificate(host, port, files)
            for (alias, _), (host, port) in self.endpoints().items()
        }

    def app_files(self) -> ClientFiles:
        return ClientFiles.of_store(self.store, "app")


@pytest.fixture(scope="module")
def rotated(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rotated]:
    tmp = tmp_path_factory.mktemp(STACK)
    certs = tmp / "certs"
    stack_file = stack_copy(
        tmp, "cluster", STACK, BASE_PORT, resources={"memory": "256M"}, update=PAIRS
    )
    cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)
    first = cli(
        "deploy", str(stack_file), "--certs-dir", str(certs), docker_host=swarm_lab.docker_host
    )
    try:
        yield Rotated(STACK, swarm_lab, stack_file, certs, first)
    finally:
        cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)


def lost(d: Rotated, files: ClientFiles | None = None) -> dict[str, str]:
    """Every key of KEYS whose value does not read back as written (empty: none lost)."""
    return anyio.run(read_all, d, files)


async def read_all(d: Rotated, files: ClientFiles | None) -> dict[str, str]:
    client = await cluster_client(STACK, d.certs, d.lab.docker_host, "app", files)
    try:
        values = await client.mget_nonatomic(list(KEYS))
    finally:
        await client.aclose()
    return {k: repr(v) for k, v in zip(KEYS, values, strict=True) if v != KEYS[k].encode()}


async def write_all(d: Rotated) -> None:
    client = await cluster_client(STACK, d.certs, d.lab.docker_host, "app")
    try:
        for key, value in KEYS.items():
            assert await client.set(key, value) is True
    finally:
        await client.aclose()


def test_deploy_then_write_keys(rotated: Rotated) -> None:
    assert rotated.first.returncode == 0, rotated.first.stdout[-3000:] + rotated.first.stderr
    anyio.run(write_all, rotated)
    assert lost(rotated) == {}


def ping_ok(d: Rotated, files: ClientFiles) -> None:
    """Every node accepts ``files`` in a TLS handshake (and asks for AUTH: default is off).
    A node that refuses the connection is one Swarm is still restarting (a rolling deploy
    killed as it restarted a node leaves Swarm to finish that): it is waited for, 60 s."""
    for host, port in d.endpoints().values():
        eventually_sync(lambda h=host, p=port: accepts(h, p), 60, f"{host}:{port} listening")
        assert ping_reply(host, port, files) == b"-NOAUTH Authentication required."


def accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return False
    return True


def rotate_figure(name: str, what: str) -> Figure:
    return Figure(name, "cluster", what)


async def assert_nothing_lost(d: Rotated, ledger: WriteLedger, figure: Figure) -> None:
    every = WriteLedger("app")
    every.confirmed = {**KEYS, **ledger.confirmed}
    every.unconfirmed, every.failed = ledger.unconfirmed, ledger.failed
    await count_cluster_losses(d, every, figure)
    window = longest_error_window(ledger.failure_times)
    figure.notes.append(f"longest run of failed writes {window:.1f} s")
    record(figure)
    assert figure.lost_confirmed == 0, figure


@pytest.mark.anyio
async def test_rotate_force_rolls_a_new_leaf_out_to_every_node_under_a_writer(
    rotated: Rotated, swarm_lab: SwarmLab, tmp_path: Path
) -> None:
    before = await anyio.to_thread.run_sync(rotated.served, rotated.app_files())
    assert len(before) == 6
    old_app = rotated.app_files().kept(tmp_path / "old-app")
    figure = rotate_figure(
        "cluster: certs rotate --force under a writer",
        "every leaf re-issued and rolled out, replicas first, primaries after a failover",
    )
    run, ledger = await run_under_a_writer(
        rotated, swarm_lab, "app:rotf", figure, command=("certs", "rotate"), extra=("--force",)
    )
    reissued = run.result["reissued"]
    assert {f"node node-{i}" for i in range(1, 7)} | {"client app"} <= set(reissued)
    after = await anyio.to_thread.run_sync(rotated.served, rotated.app_files())
    assert sorted(after) == sorted(before) == [f"node-{i}" for i in range(1, 7)]
    for node, cert in after.items():
        assert cert.serial_number != before[node].serial_number, node
        issued = (rotated.store / "nodes" / f"{node}.crt").read_bytes()
        assert cert == x509.load_pem_x509_certificate(issued), node  # the one just issued
    assert not (rotated.store / "rotation.json").exists()
    assert set(secret_versions(swarm_lab.docker_host, STACK).values()) == {
        1
    }  # old versions removed
    await assert_nothing_lost(rotated, ledger, figure)
    assert await read_all(rotated, old_app) == {}  # same CA: the replaced client cert works
    # a second run (a cron job's next day) finds nothing due and restarts nothing
    again = await anyio.to_thread.run_sync(
        lambda: rerun(rotated.stack_file, rotated.certs, swarm_lab, ("certs", "rotate"))
    )
    assert again.code == 0, again.stderr[-2000:]
    assert again.result["reissued"] == [] and again.result["restarted"] == []


def assert_only(store: Path, ca: Path) -> None:
    """The rotation is over: the store trusts ``ca`` alone and keeps nothing of it."""
    for name in ("rotation.json", "ca-previous.crt", "ca-cross.crt", "ca-next.crt"):
        assert not (store / name).exists(), name
    assert (store / "ca.crt").read_bytes() == ca.read_bytes()


def swarm_rotation(lab: SwarmLab) -> dict[str, str]:
    """The rotation the Swarm records for the stack ({}: none)."""
    found = subprocess.run(
        ["docker", "--host", lab.docker_host, "config", "inspect", f"swarmredis-rotation-{STACK}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if found.returncode != 0:
        assert "No such config" in found.stderr or "not found" in found.stderr, found.stderr
        return {}
    value: dict[str, str] = json.loads(
        json.loads(found.stdout)[0]["Spec"]["Labels"]["io.swarmredis.rotation"]
    )
    return value


def refused_with_another_store(d: Rotated, lab: SwarmLab, tmp: Path) -> None:
    """A copy of the store without the rotation's record (another machine's, an old
    backup): `certs rotate --ca` refuses, naming the Swarm's record, and changes nothing."""
    other = tmp / "other-certs"
    shutil.copytree(d.certs, other)
    (other / STACK / "rotation.json").unlink()
    before = running_tasks(d)
    refused = cli(
        "certs",
        "rotate",
        str(d.stack_file),
        "--ca",
        "--certs-dir",
        str(other),
        docker_host=lab.docker_host,
    )
    assert refused.returncode == 4, refused.stdout[-2000:] + refused.stderr
    assert "the Swarm records a ca rotation in phase trust" in refused.stderr
    assert running_tasks(d) == before
    assert swarm_rotation(lab)["phase"] == "trust"


def reissue_rolling(event: Event) -> bool:
    """A node service updated (in the phase's rolling deploy)."""
    return event["step"] == "apply" and event["detail"] == "service updated"


@pytest.mark.anyio
async def test_rotate_ca_killed_in_each_phase_resumes_and_ends_at_the_new_ca(
    rotated: Rotated, swarm_lab: SwarmLab, tmp_path: Path
) -> None:
    """`certs rotate --ca` SIGKILLed as the rolling deploy of each phase restarts its first
    node (trust, reissue, finish), run again each time: every run resumes at the phase the
    last one reached; after each kill the cluster bus is up (cluster ok, every slot
    served: no node refuses a peer's certificate) and, before the last phase, a client
    that holds only the old CA verifies every node. The last run ends it under a writer."""
    store = rotated.store
    old_only = rotated.app_files().kept(tmp_path / "old-only")  # the old CA, its client cert
    for phase, seen in (
        ("trust", ["start", "trust"]),
        ("reissue", ["trust", "reissue"]),
        ("finish", ["reissue", "finish"]),
    ):
        phases: list[str] = []

        def at(event: Event, phase: str = phase, phases: list[str] = phases) -> bool:
            if event["step"] == "rotate" and event["status"] == "start":
                phases.append(event["data"]["phase"])
            return bool(phases) and phases[-1] == phase and reissue_rolling(event)

        killed = await anyio.to_thread.run_sync(
            lambda at=at: deploy_killed_at(
                rotated.stack_file,
                rotated.certs,
                swarm_lab,
                at,
                command=("certs", "rotate"),
                extra=("--ca",),
                within=600,
            )
        )
        assert phases == seen, killed.events[-3:]
        assert json.loads((store / "rotation.json").read_text())["phase"] == phase
        assert swarm_rotation(swarm_lab)["phase"] == phase  # the Swarm's record says it too
        _, report = await anyio.to_thread.run_sync(rotated.status)
        assert report["cluster"]["state"] == "ok", report["problems"]
        assert report["cluster"]["slots_ok"] == 16384, report["problems"]
        if phase == "trust":
            await anyio.to_thread.run_sync(refused_with_another_store, rotated, swarm_lab, tmp_path)
        if phase != "finish":
            # some nodes serve the old CA's leaf, some a new one followed by the new CA as
            # certified by the old one: a client holding only the old CA verifies them all
            await anyio.to_thread.run_sync(ping_ok, rotated, old_only)
    new_ca = Path(shutil.copyfile(store / "ca-current.crt", tmp_path / "new-ca.crt"))
    figure = rotate_figure(
        "cluster: certs rotate --ca, killed in each phase, under a writer",
        "SIGKILL in the rolling deploy of trust, reissue and finish; each next run resumes",
    )
    run, ledger = await run_under_a_writer(
        rotated,
        swarm_lab,
        "app:rotca",
        figure,
        command=("certs", "rotate"),
        extra=("--ca",),
        within=900,
    )
    assert run.result["resumed"] == "finish"
    assert run.result["phases"] == ["finish"]
    assert_only(store, new_ca)
    assert swarm_rotation(swarm_lab) == {}
    new_only = rotated.app_files().kept(tmp_path / "new-only", ca=new_ca)
    served = await anyio.to_thread.run_sync(rotated.served, new_only)
    assert len(served) == 6 and all(signed_by(cert, new_ca) for cert in served.values())
    old_ca_new_cert = rotated.app_files().kept(tmp_path / "old-ca", ca=old_only.ca)
    old_cert_new_ca = old_only.kept(tmp_path / "old-cert", ca=new_ca)
    for host, port in (await anyio.to_thread.run_sync(rotated.endpoints)).values():
        # a client that holds only the old CA cannot verify the node any more (it sends
        # its leaf and the new CA: "self-signed certificate in certificate chain")
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            served_certificate(host, port, old_ca_new_cert)
        # and the node refuses a client certificate of the old CA
        with pytest.raises(ssl.SSLError, match=REFUSED):
            ping_reply(host, port, old_cert_new_ca)
    assert set(secret_versions(swarm_lab.docker_host, STACK).values()) == {1}
    await assert_nothing_lost(rotated, ledger, figure)
    assert await read_all(rotated, new_only) == {}


def auth_reply(host: str, port: int, files: ClientFiles, user: str, secret: str) -> bytes:
    """The first reply line to ``AUTH user secret`` over TLS."""
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        files.context().wrap_socket(raw) as tls,
    ):
        tls.sendall(f"AUTH {user} {secret}\r\n".encode())
        return tls.recv(256).split(b"\r\n", 1)[0]


def auth_on_every_node(d: Rotated, user: str, secret: str) -> set[bytes]:
    """The replies of every node to ``AUTH user secret``."""
    files = d.app_files()
    return {auth_reply(h, p, files, user, secret) for h, p in d.endpoints().values()}


@pytest.mark.anyio
async def test_users_rotate_app_then_finish_under_a_writer(
    rotated: Rotated, swarm_lab: SwarmLab
) -> None:
    old = password(rotated.certs, STACK, "app")
    figure = rotate_figure(
        "cluster: users rotate app (and --finish) under a writer",
        "a new password for app, live on every node, rolled out; then the old one removed",
    )
    run, ledger = await run_under_a_writer(
        rotated, swarm_lab, "app:rotu", figure, command=("users", "rotate"), extra=("app",)
    )
    new = password(rotated.certs, STACK, "app")
    assert new != old and len(run.result["live"]) == 6 and not run.result["resumed"]
    both = await anyio.to_thread.run_sync(auth_on_every_node, rotated, "app", old)
    assert both == {b"+OK"}  # the old one still works, after the rolling restart too
    assert await anyio.to_thread.run_sync(auth_on_every_node, rotated, "app", new) == {b"+OK"}
    done = await anyio.to_thread.run_sync(
        lambda: rerun(
            rotated.stack_file, rotated.certs, swarm_lab, ("users", "rotate"), ("app", "--finish")
        )
    )
    assert done.code == 0, done.stderr[-2000:]
    refused = await anyio.to_thread.run_sync(auth_on_every_node, rotated, "app", old)
    assert len(refused) == 1 and refused.pop().startswith(b"-WRONGPASS")
    assert await anyio.to_thread.run_sync(auth_on_every_node, rotated, "app", new) == {b"+OK"}
    assert not (rotated.store / "users" / "app.previous.password").exists()
    await assert_nothing_lost(rotated, ledger, figure)


def running_tasks(d: Rotated) -> set[str]:
    out = d.lab.docker(1, "stack", "ps", STACK, "-q", "--filter", "desired-state=running")
    return set(out.split())


async def config_get(d: Rotated, key: str) -> dict[str, str]:
    """``CONFIG GET key`` of every node, by node name."""
    out = {}
    for (alias, _), address in (await anyio.to_thread.run_sync(d.endpoints)).items():
        client = redis_client(address, d.store, "swarmredis-admin")
        try:
            out[alias.removeprefix(f"{STACK}-")] = str((await client.config_get(key))[key])
        finally:
            await client.aclose()
    return out


@pytest.mark.anyio
async def test_live_maxmemory_change_restarts_nothing_and_outlives_a_restart(
    rotated: Rotated, swarm_lab: SwarmLab
) -> None:
    """resources.maxmemory_ratio and a config: key Redis sets at run time, deployed under a
    writer: plan says live, no task restarts, CONFIG GET shows the new values on every
    node, and a node restarted afterwards comes back with them (its live settings file)."""
    data = yaml.safe_load(rotated.stack_file.read_text())
    data["resources"]["maxmemory_ratio"] = 0.5
    data.setdefault("config", {})["slowlog-max-len"] = 512
    rotated.stack_file.write_text(yaml.safe_dump(data))
    planned = cli(
        "plan",
        str(rotated.stack_file),
        "--certs-dir",
        str(rotated.certs),
        "--json",
        docker_host=swarm_lab.docker_host,
    )
    actions = json.loads(planned.stdout)["actions"]
    live = [a for a in actions if a["action"] == "live"]
    assert len(live) == 6 and {a["action"] for a in actions} == {"live", "noop"}, planned.stdout
    wanted = str(128 * 1024**2)  # 256M x 0.5
    assert all(f"-> {wanted}" in a["live"][0] for a in live), live
    before = await anyio.to_thread.run_sync(running_tasks, rotated)
    figure = rotate_figure(
        "cluster: live maxmemory change under a writer",
        "resources.maxmemory_ratio and slowlog-max-len set with CONFIG SET on every node",
    )
    run, ledger = await run_under_a_writer(rotated, swarm_lab, "app:live", figure)
    assert sorted(run.result["live"]) == [f"node-{i}" for i in range(1, 7)]
    assert run.result["updated"] == []
    assert await anyio.to_thread.run_sync(running_tasks, rotated) == before  # no restart
    assert set((await config_get(rotated, "maxmemory")).values()) == {wanted}
    assert set((await config_get(rotated, "slowlog-max-len")).values()) == {"512"}
    again = cli(
        "plan",
        str(rotated.stack_file),
        "--certs-dir",
        str(rotated.certs),
        docker_host=swarm_lab.docker_host,
    )
    assert again.returncode == 0, again.stdout[-2000:]
    await assert_nothing_lost(rotated, ledger, figure)
    # a restart (here forced; a crash or a host reboot alike) keeps the live values
    _, report = await anyio.to_thread.run_sync(rotated.status)
    replica = next(n["name"] for n in report["nodes"] if n["role"] == "replica")
    await anyio.to_thread.run_sync(
        lambda: swarm_lab.docker(
            1, "service", "update", "--force", "--detach", f"{STACK}_{replica}"
        )
    )

    async def restarted_with_them() -> bool:
        if await anyio.to_thread.run_sync(running_tasks, rotated) == before:
            return False
        try:
            return (await config_get(rotated, "maxmemory")).get(replica) == wanted
        except (OSError, RedisError):
            return False

    await eventually(restarted_with_them, 90, f"{replica} restarted, with maxmemory {wanted}")


@pytest.mark.anyio
async def test_after_rm_keeping_volumes_deploy_sets_the_planned_live_values(
    rotated: Rotated, swarm_lab: SwarmLab
) -> None:
    """The volumes outlive `rm` with the live settings file of the last live change; the
    stack file goes back to the first maxmemory meanwhile. The new services read that old
    file at start, and deploy sets the planned values again (and writes them there)."""
    removed = await anyio.to_thread.run_sync(
        lambda: cli("rm", STACK, "-q", docker_host=swarm_lab.docker_host)
    )
    assert removed.returncode == 0, removed.stderr
    data = yaml.safe_load(rotated.stack_file.read_text())
    data["resources"]["maxmemory_ratio"] = 0.75
    rotated.stack_file.write_text(yaml.safe_dump(data))
    back = await anyio.to_thread.run_sync(rotated.deploy)
    assert back.returncode in (0, 1), back.stdout[-3000:] + back.stderr
    assert "run other live settings than planned" in back.stdout
    wanted = str(int(256 * 1024**2 * 0.75))
    assert set((await config_get(rotated, "maxmemory")).values()) == {wanted}
    assert await read_all(rotated, None) == {}

"""Address healing in cluster nodes' health checks (plan/heal.py), run by a real ``sh``
against a stand-in ``redis-cli`` that answers as the nodes would and logs each call."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from swarmredis.pki import acl
from swarmredis.plan.heal import heal_script
from swarmredis.plan.services import heals_addresses, healthcheck
from swarmredis.stackfile.load import load_stack
from swarmredis.stackfile.topology import topology

ROOT = Path(__file__).resolve().parents[2]

# answers by the command's last words; peers report the address they are reached at
FAKE_CLI = r"""#!/bin/sh
echo "$REDISCLI_AUTH|$*" >> "$LOG"
case "$*" in
  *"-h 127.0.0.1"*"cluster info")
    printf '%s\r\n' "cluster_state:$STATE" "cluster_slots_assigned:$SLOTS" \
      "cluster_known_nodes:$KNOWN" ;;
  *"-h acme-node-2"*"client info") echo "id=7 addr=10.0.1.9:5000 laddr=$AT2:6379 fd=8 name=" ;;
  *"-h acme-node-3"*"client info") echo "Could not connect to acme-node-3:6379" >&2; exit 1 ;;
  *"-h 127.0.0.1"*"cluster nodes")
    echo "aaa 10.0.1.5:6379@16379,acme-node-1 $ME connected 0-5460"
    echo "bbb 10.0.1.6:6379@16379,acme-node-2 master - 0 0 2 connected 5461-10922"
    echo "ccc 10.0.1.7:6379@16379,acme-node-3 master,fail - 0 0 3 connected 10923-16383"
    echo "ddd 10.0.1.8:6379@16379 slave,fail aaa 0 0 1 connected" ;;
  *"-h 127.0.0.1"*" role") printf '%s\n' slave "$ROLE_AT" 6379 connected -1 ;;
  *"cluster meet"*|*"cluster replicate"*) echo OK ;;
esac
"""


def run_heal(
    tmp_path: Path,
    state: str,
    known: str,
    auth: str,
    me: str = "myself,master - 0 0 1",
    role_at: str = "",
    at2: str = "10.0.1.22",
    slots: str = "16384",
) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "redis-cli"
    fake.write_text(FAKE_CLI)
    fake.chmod(0o755)
    auth_file = tmp_path / "replication-auth.conf"
    auth_file.write_text(auth)
    log = tmp_path / "calls.log"
    log.write_text("")
    script = heal_script(
        ["--tls"], str(auth_file), 6379, 16379, pid_file=str(tmp_path / "heal.pid")
    )
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(log), "STATE": state, "KNOWN": known}
    env |= {"ME": me, "ROLE_AT": role_at, "AT2": at2, "SLOTS": slots}
    subprocess.run(["sh", "-c", script], env=env, check=True, timeout=10)
    return log.read_text().splitlines()


AUTH = "masteruser replication\nmasterauth s3cret-pw\n"


def test_a_failed_cluster_node_meets_each_answering_peer_where_it_is_now(tmp_path: Path) -> None:
    """Peers are the nodes its own table lists, by the hostname each announced (one that
    announced none is skipped); itself is not asked."""
    calls = run_heal(tmp_path, "fail", "6", AUTH)
    assert calls == [
        "s3cret-pw|--no-auth-warning --tls --user replication -h 127.0.0.1 -p 6379 cluster info",
        "s3cret-pw|--no-auth-warning --tls --user replication -h 127.0.0.1 -p 6379 cluster nodes",
        "s3cret-pw|--no-auth-warning --tls --user replication -h acme-node-2 -p 6379 client info",
        "s3cret-pw|--no-auth-warning --tls --user replication -h 127.0.0.1 -p 6379 "
        "cluster meet 10.0.1.22 6379 16379",
        "s3cret-pw|--no-auth-warning --tls --user replication -h acme-node-2 -p 6379 "
        "cluster meet 10.0.1.9 6379 16379",
        "s3cret-pw|--no-auth-warning --tls --user replication -h acme-node-3 -p 6379 client info",
    ]  # node-3 did not answer: no MEET for it, the next health check asks again


@pytest.mark.parametrize(
    ("state", "known", "why"),
    [("ok", "6", "a cluster that is ok"), ("fail", "1", "a fresh node, before bootstrap")],
)
def test_nothing_is_met_for(tmp_path: Path, state: str, known: str, why: str) -> None:
    calls = run_heal(tmp_path, state, known, AUTH)
    read = [["cluster", "info"]] + ([["cluster", "nodes"]] if known != "1" else [])
    assert [c.rsplit(" ", 2)[-2:] for c in calls] == read, why  # a primary: no ROLE either


def test_without_the_replication_password_it_does_nothing(tmp_path: Path) -> None:
    assert run_heal(tmp_path, "fail", "6", "masteruser replication\n") == []


def test_one_step_at_a_time(tmp_path: Path) -> None:
    """A step still running (its pid alive) makes the next health check's step return."""
    (tmp_path / "heal.pid").write_text(f"{os.getpid()}\n")
    assert run_heal(tmp_path, "fail", "6", AUTH) == []


def test_the_health_check_heals_only_cluster_nodes_on_the_overlay() -> None:
    cluster = load_stack(ROOT / "stacks" / "cluster.yaml")
    node = topology(cluster)[0]
    test = healthcheck(cluster, node)["Test"][1]
    assert heals_addresses(cluster, node)
    assert "acme-node-" not in test  # peers come from the node's own table, not the spec
    assert test.endswith("</dev/null >/dev/null 2>&1 &\nexit 0")
    assert "masterauth" in test and "s3cret" not in test  # read from the secret, never inlined
    subprocess.run(["sh", "-n", "-c", test], check=True, timeout=10)
    inner = shlex.split(test.split("\nsh -c ", 1)[1].rsplit(" </dev/null", 1)[0])[0]
    subprocess.run(["sh", "-n", "-c", inner], check=True, timeout=10)
    replication = load_stack(ROOT / "stacks" / "replication.yaml")
    assert not any(heals_addresses(replication, n) for n in topology(replication))
    host_announce = cluster.model_copy(update={"announce": "host"})
    assert not heals_addresses(host_announce, node)


def test_only_the_cluster_replication_user_may_heal() -> None:
    healing = {"+client|info", "+cluster|info", "+cluster|nodes", "+cluster|meet"}
    cluster_users = {u.name: u for u in acl.redis_users((), sentinels=False, cluster=True)}
    plain_users = {u.name: u for u in acl.redis_users((), sentinels=True)}
    assert healing <= set(cluster_users[acl.REPLICATION].commands)
    assert not healing & set(plain_users[acl.REPLICATION].commands)
    assert "+@all" not in cluster_users[acl.REPLICATION].commands


REPLICA_OF_BBB = "myself,slave bbb 0 0 1"


@pytest.mark.parametrize(("role_at", "repointed"), [("10.0.1.99", True), ("10.0.1.6", False)])
def test_a_replica_following_its_primary_at_an_old_address_is_pointed_at_it_again(
    tmp_path: Path, role_at: str, repointed: bool
) -> None:
    """Redis moves a moved primary's table entry but not the replica's link (master_host
    kept the old address on the lab): CLUSTER REPLICATE of the same primary fixes it."""
    calls = run_heal(tmp_path, "ok", "6", AUTH, me=REPLICA_OF_BBB, role_at=role_at)
    tail = [c.split(" -p 6379 ", 1)[1] for c in calls]
    assert tail == ["cluster info", "cluster nodes", "role"] + (
        ["cluster replicate bbb"] if repointed else []
    )


def test_a_peer_reached_where_the_table_says_is_not_met_again(tmp_path: Path) -> None:
    """node-2 answers at 10.0.1.6, its table address, and its link is up: a MEET would only
    add a transient handshake entry (a bootstrap's own view, `redis-cli --cluster check`)."""
    calls = run_heal(tmp_path, "fail", "6", AUTH, at2="10.0.1.6")
    assert not any("cluster meet" in c for c in calls), calls


def test_a_cluster_still_forming_is_left_to_its_bootstrap(tmp_path: Path) -> None:
    """No slot assigned yet: the nodes met moments ago, and the bootstrap MEETs them."""
    calls = run_heal(tmp_path, "fail", "6", AUTH, slots="0")
    assert not any("cluster meet" in c or "client info" in c for c in calls), calls

"""plan/preflight.py: the host checks, from what the job prints and Docker says."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmredis.plan.preflight import (
    HostFacts,
    Verdict,
    exit_code,
    host_checks,
    parse_values,
    selected,
    skew_seconds,
)
from swarmredis.stackfile import load_stack

STACK = load_stack(Path(__file__).resolve().parents[2] / "stacks" / "cluster.yaml")
GOOD = {
    "thp_enabled": "always [madvise] never",
    "thp_defrag": "always defer defer+madvise [madvise] never",
    "overcommit": "1",
    "somaxconn": "4096",
    "mem_total_kb": str(24 * 2**20),
    "mem_available_kb": str(20 * 2**20),
    "redis_server": "7.0.15",
    "redis_cli": "yes",
    "disk_available_kb": str(100 * 2**20),
    "end": "1",
}


def facts(image: int | str = 7, **changes: str) -> HostFacts:
    values = {**GOOD, **changes}
    return HostFacts("h1", True, "", values, "20.10.24+dfsg1", 0.1, ("node-1", "node-4"), image)


def verdicts(found: HostFacts) -> dict[str, Verdict]:
    return {c.name: c.verdict for c in host_checks(STACK, found)}


def test_a_tuned_host_passes_every_check() -> None:
    checks = host_checks(STACK, facts())
    assert {c.verdict for c in checks} == {Verdict.PASS}
    assert exit_code(checks) == 0
    assert [c.name for c in checks] == [
        "image",
        "engine",
        "transparent huge pages",
        "THP defrag",
        "vm.overcommit_memory",
        "net.core.somaxconn",
        "memory",
        "disk",
        "clock",
    ]


@pytest.mark.parametrize(
    ("changes", "check", "verdict", "fix"),
    [
        (
            {"thp_enabled": "[always] madvise never"},
            "transparent huge pages",
            Verdict.WARN,
            "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled",
        ),
        ({"thp_defrag": "[always] defer"}, "THP defrag", Verdict.WARN, "defer+madvise"),
        (
            {"overcommit": "0"},
            "vm.overcommit_memory",
            Verdict.WARN,
            "sysctl -w vm.overcommit_memory=1",
        ),
        ({"somaxconn": "128"}, "net.core.somaxconn", Verdict.WARN, "set tcp-backlog to 128"),
        ({"mem_available_kb": "1024"}, "memory", Verdict.WARN, "free memory on the host"),
        (
            {"mem_total_kb": "1024", "mem_available_kb": "1024"},
            "memory",
            Verdict.FAIL,
            "lower resources.memory",
        ),
        ({"disk_available_kb": "1024"}, "disk", Verdict.WARN, "free space under Docker"),
    ],
)
def test_each_problem_has_its_verdict_and_fix(
    changes: dict[str, str], check: str, verdict: Verdict, fix: str
) -> None:
    found = next(c for c in host_checks(STACK, facts(**changes)) if c.name == check)
    assert found.verdict is verdict
    assert fix in found.fix


def test_the_image_is_judged_by_the_probe_exit_code() -> None:
    old = next(c for c in host_checks(STACK, facts(6, redis_server="6.2.14")) if c.name == "image")
    assert old.verdict is Verdict.FAIL and "use Redis 7 or later" in old.fix
    lacking = "h1: the image redis:x has no redis-cli (the health check needs it)"
    missing = next(c for c in host_checks(STACK, facts(lacking)) if c.name == "image")
    assert missing.verdict is Verdict.FAIL and missing.found == lacking


def test_a_log_that_did_not_come_back_skips_what_it_holds_and_fails_nothing() -> None:
    """The image's answer is the exit code; the settings come from the task's log, which
    a host may not send back (seen on the lab after an engine restart)."""
    unread = HostFacts("h3", True, "", {}, "20.10.24", 0.0, ("node-3",), 7)
    checks = host_checks(STACK, unread)
    got = {c.name: c.verdict for c in checks}
    assert got["image"] is Verdict.PASS and got["clock"] is Verdict.PASS
    assert got["memory"] is got["transparent huge pages"] is Verdict.SKIP
    assert exit_code(checks) == 0


def test_what_the_image_cannot_read_is_skipped_not_judged() -> None:
    got = verdicts(facts(somaxconn="", disk_available_kb=""))
    assert got["net.core.somaxconn"] is got["disk"] is Verdict.SKIP
    assert exit_code(host_checks(STACK, facts(somaxconn=""))) == 0


def test_a_host_that_cannot_run_the_image_fails_with_the_fix() -> None:
    rejected = HostFacts("h3", False, "No such image: redis:7.0-x", {}, "20.10.24", None, ())
    checks = host_checks(STACK, rejected)
    assert checks[0].verdict is Verdict.FAIL and "No such image" in checks[0].found
    assert "docker load" in checks[0].fix
    assert exit_code(checks) == 2


def test_clock_and_engine() -> None:
    skewed = HostFacts("h1", True, "", GOOD, "19.03.15", 75.0, ())
    got = verdicts(skewed)
    assert got["clock"] is Verdict.FAIL and got["engine"] is Verdict.FAIL
    assert verdicts(HostFacts("h1", True, "", GOOD, "20.10.5", -3.0, ()))["clock"] is Verdict.WARN


def test_job_output_task_times_and_sysfs_lists() -> None:
    assert parse_values(["a=1", "noise", "b=x y", "=z"]) == {"a": "1", "b": "x y"}
    assert selected("always [madvise] never") == "madvise"
    assert selected("plain") == "plain"
    skew = skew_seconds("2026-12-07T09:00:01.5Z", "2026-12-07T09:00:00.25Z")
    assert skew == pytest.approx(1.25)
    assert skew_seconds("2026-12-07T09:00:00.123456789Z", "2026-12-07T09:00:00Z") == pytest.approx(
        0.123456
    )
    assert skew_seconds("", "2026-12-07T09:00:00Z") is None

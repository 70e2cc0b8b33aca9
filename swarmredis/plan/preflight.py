"""Host preflight (pure): the job that reads each host, and the checks of what it read.

The job runs the stack's image on every host the stack may use (a GlobalJob), changing
nothing, with ``sh`` builtins and ``redis-server``/``redis-cli`` only (``df`` and ``date``
when the image has them): it prints ``key=value`` lines, which the engine reads from the
task's log. Inside a container ``/sys`` and ``/proc/sys/vm`` show the host's settings,
``/proc/sys/net/core/somaxconn`` the value of the container's own network namespace
(the one Redis listens in), ``/proc/meminfo`` the host's memory, and ``df /`` the file
system of Docker's data root (where the volumes are, unless moved). ``somaxconn`` needs
``cat``: a shell's ``read`` takes a byte at a time, and a sysctl file answers only a read
from its start (``4`` of ``4096``, measured on the lab).

The image's own check (``redis-server`` 7+, ``redis-cli``) is the image probe's
(``plan/upgrade.py``): its answer is the task's exit code, which Swarm keeps in the
task's status. The log of a task on another host may not come back: measured on the lab,
after a host's engine was killed and started again, that host's job logs read empty
while its tasks ran. Then the other checks are skipped as unread, not failed.

From Docker: whether the host could run the image at all (a task rejected: the image is
not there), its engine version, and its clock against the manager's: a task's status
time comes from the host's clock, its ``UpdatedAt`` from the manager's when it stored that
status (the difference is the skew, plus well under a second of delivery).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from swarmredis.plan.jobs import shell_job
from swarmredis.plan.upgrade import PROBE
from swarmredis.stackfile.model import Stack

_READ = 'r() { v=; read -r v < "$2" 2>/dev/null; echo "$1=$v"; }; '
SCRIPT = (
    _READ
    + "r thp_enabled /sys/kernel/mm/transparent_hugepage/enabled; "
    + "r thp_defrag /sys/kernel/mm/transparent_hugepage/defrag; "
    + "r overcommit /proc/sys/vm/overcommit_memory; "
    + "command -v cat >/dev/null 2>&1 && echo somaxconn=$(cat /proc/sys/net/core/somaxconn); "
    + "while read -r k v u; do case $k in "
    + "MemTotal:) echo mem_total_kb=$v;; MemAvailable:) echo mem_available_kb=$v;; "
    + "esac; done < /proc/meminfo; "
    + 'v=$(redis-server --version 2>/dev/null) && { v=${v#*v=}; echo "redis_server=${v%% *}"; }; '
    + "command -v redis-cli >/dev/null 2>&1 && echo redis_cli=yes; "
    + "command -v df >/dev/null 2>&1 && df -Pk / | { read -r h; read -r f s u a r; "
    + "echo disk_available_kb=$a; }; "
    + "echo end=1; "
    + PROBE  # the image's answer through the exit code: kept by Swarm whatever the logs do
)
READ_FROM_LOG = (
    "transparent huge pages",
    "THP defrag",
    "vm.overcommit_memory",
    "net.core.somaxconn",
    "memory",
    "disk",
)
MIN_ENGINE = (20, 10)  # API 1.41: GlobalJob services
SKEW_WARN_S, SKEW_FAIL_S = 2.0, 60.0
DEFAULT_BACKLOG = 511  # Redis's tcp-backlog


class Verdict(StrEnum):
    PASS = "pass"
    SKIP = "skip"  # could not be read here: nothing to judge
    WARN = "warn"
    FAIL = "fail"


EXIT = {Verdict.PASS: 0, Verdict.SKIP: 0, Verdict.WARN: 1, Verdict.FAIL: 2}


@dataclass(frozen=True)
class Check:
    """One check on one host: what was found and, unless it passed, the exact fix."""

    host: str
    name: str
    verdict: Verdict
    found: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "host": self.host,
            "check": self.name,
            "verdict": self.verdict.value,
            "found": self.found,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class HostFacts:
    """What the job and Docker say about one host."""

    host: str
    ran: bool  # the job's task ran (False: rejected, e.g. the image is missing)
    words: str  # the task's error or message
    values: Mapping[str, str]  # empty when the task's log could not be read
    engine: str
    skew_s: float | None  # host clock minus manager clock
    nodes: Sequence[str]  # the stack's nodes planned there
    image: int | str = ""  # the probe's answer: redis-server's major, or what is wrong


def preflight_job(stack: str, image: str, constraints: Sequence[str]) -> dict[str, Any]:
    """A GlobalJob that reads every host the stack may use with the stack's image."""
    return shell_job(stack, "preflight", image, SCRIPT, constraints)


def parse_values(lines: Sequence[str]) -> dict[str, str]:
    """``key=value`` lines of the job's log (a line in another form is ignored)."""
    out = {}
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and key.isidentifier():
            out[key] = value.strip()
    return out


def skew_seconds(status_at: str, stored_at: str) -> float | None:
    """Host clock minus manager clock from a task's status time and its ``UpdatedAt``."""
    try:
        host, manager = _instant(status_at), _instant(stored_at)
    except ValueError:
        return None
    return (host - manager).total_seconds()


def _instant(text: str) -> datetime:
    head, dot, rest = text.rstrip("Z").partition(".")
    fraction = (rest[:6] if dot else "").ljust(6, "0")
    return datetime.fromisoformat(f"{head}.{fraction}+00:00")


def selected(text: str) -> str:
    """The bracketed choice of a sysfs list (``always madvise [never]`` -> ``never``)."""
    if "[" in text and "]" in text:
        return text.split("[", 1)[1].split("]", 1)[0]
    return text


def host_checks(stack: Stack, facts: HostFacts) -> list[Check]:
    """Every check of one host."""
    host = facts.host
    engine = _engine_check(host, facts.engine)
    if not facts.ran:
        words = facts.words or "not run"
        return [
            Check(
                host,
                "image",
                Verdict.FAIL,
                f"{stack.image} cannot run here ({words})",
                f"load the image on {host} (docker load) or use an image every host has",
            ),
            engine,
        ]
    v = facts.values
    checks = [_image_check(host, stack.image, facts), engine]
    if "end" not in v:  # the task's log did not come back: judge nothing from it
        unread = "the job's output on this host could not be read (its task log)"
        checks += [Check(host, name, Verdict.SKIP, unread) for name in READ_FROM_LOG]
        return [*checks, _clock(host, facts.skew_s)]
    checks += [_thp(host, v), _defrag(host, v), _overcommit(host, v), _backlog(host, stack, v)]
    checks += [_memory(host, stack, facts), _disk(host, stack, facts), _clock(host, facts.skew_s)]
    return checks


def exit_code(checks: Sequence[Check]) -> int:
    """0 all pass, 1 a warning, 2 a failure."""
    return max((EXIT[c.verdict] for c in checks), default=0)


def _engine_check(host: str, version: str) -> Check:
    parts = version.split(".")
    try:
        found = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        return Check(host, "engine", Verdict.WARN, f"Docker Engine {version or '?'}", "")
    if found < MIN_ENGINE:
        fix = "upgrade Docker Engine to 20.10 or later (API 1.41: swarm jobs)"
        return Check(host, "engine", Verdict.FAIL, f"Docker Engine {version}", fix)
    return Check(host, "engine", Verdict.PASS, f"Docker Engine {version}")


def _image_check(host: str, image: str, facts: HostFacts) -> Check:
    answer = facts.image
    if isinstance(answer, str):  # what is wrong, said for people (plan/upgrade.py)
        return Check(host, "image", Verdict.FAIL, answer, "")
    version = facts.values.get("redis_server") or str(answer)
    if answer < 7:
        fix = "use Redis 7 or later: redis.conf includes the live settings by a pattern"
        return Check(host, "image", Verdict.FAIL, f"{image}: redis-server {version}", fix)
    return Check(host, "image", Verdict.PASS, f"{image}: redis-server {version}, redis-cli, sh")


def _thp(host: str, v: Mapping[str, str]) -> Check:
    found = selected(v.get("thp_enabled", ""))
    if not found:
        return Check(host, "transparent huge pages", Verdict.SKIP, "not readable")
    text = f"enabled [{found}]"
    if found == "always":
        fix = (
            "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled on the host (and at "
            "boot: transparent_hugepage=madvise on the kernel command line)"
        )
        return Check(host, "transparent huge pages", Verdict.WARN, text, fix)
    return Check(host, "transparent huge pages", Verdict.PASS, text)


def _defrag(host: str, v: Mapping[str, str]) -> Check:
    found = selected(v.get("thp_defrag", ""))
    if not found:
        return Check(host, "THP defrag", Verdict.SKIP, "not readable")
    if found == "always":
        fix = "echo defer+madvise > /sys/kernel/mm/transparent_hugepage/defrag on the host"
        return Check(host, "THP defrag", Verdict.WARN, f"defrag [{found}]", fix)
    return Check(host, "THP defrag", Verdict.PASS, f"defrag [{found}]")


def _overcommit(host: str, v: Mapping[str, str]) -> Check:
    found = v.get("overcommit", "")
    if not found:
        return Check(host, "vm.overcommit_memory", Verdict.SKIP, "not readable")
    if found != "1":
        fix = (
            "sysctl -w vm.overcommit_memory=1 on the host, and vm.overcommit_memory = 1 in "
            "/etc/sysctl.d/90-redis.conf (a background save can fail without it)"
        )
        return Check(host, "vm.overcommit_memory", Verdict.WARN, found, fix)
    return Check(host, "vm.overcommit_memory", Verdict.PASS, found)


def backlog_of(stack: Stack) -> int:
    value = stack.config.get("tcp-backlog", "")
    return int(value) if value.isdigit() else DEFAULT_BACKLOG


def _backlog(host: str, stack: Stack, v: Mapping[str, str]) -> Check:
    found, backlog = v.get("somaxconn", ""), backlog_of(stack)
    if not found.isdigit():
        return Check(host, "net.core.somaxconn", Verdict.SKIP, "the image has no cat: not read")
    text = f"{found} in the container's network namespace, tcp-backlog {backlog}"
    if int(found) < backlog:
        fix = (
            f"Redis caps its backlog at {found}: set tcp-backlog to {found} or less in the "
            "stack's config, or raise net.core.somaxconn for new network namespaces (kernel)"
        )
        return Check(host, "net.core.somaxconn", Verdict.WARN, text, fix)
    return Check(host, "net.core.somaxconn", Verdict.PASS, text)


def _kib(v: Mapping[str, str], key: str) -> int | None:
    text = v.get(key, "")
    return int(text) * 1024 if text.isdigit() else None


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def _memory(host: str, stack: Stack, facts: HostFacts) -> Check:
    total, free = _kib(facts.values, "mem_total_kb"), _kib(facts.values, "mem_available_kb")
    planned = len(facts.nodes) * stack.resources.memory
    if total is None or free is None:
        return Check(host, "memory", Verdict.SKIP, "/proc/meminfo not readable")
    names = ", ".join(facts.nodes) or "no node"
    text = f"{_mib(planned)} planned ({names}), {_mib(free)} available of {_mib(total)}"
    if planned > total:
        fix = "lower resources.memory, or add hosts so fewer nodes share this one"
        return Check(host, "memory", Verdict.FAIL, text, fix)
    if planned > free:
        fix = "free memory on the host, lower resources.memory, or add hosts"
        return Check(host, "memory", Verdict.WARN, text, fix)
    return Check(host, "memory", Verdict.PASS, text)


def _disk(host: str, stack: Stack, facts: HostFacts) -> Check:
    free = _kib(facts.values, "disk_available_kb")
    if free is None:
        return Check(host, "disk", Verdict.SKIP, "the image has no df: not checked")
    need = 2 * len(facts.nodes) * stack.resources.memory  # a snapshot and an AOF rewrite
    text = f"{_mib(free)} free under Docker's data root, {_mib(need)} wanted"
    if free < need:
        fix = "free space under Docker's data root (/var/lib/docker) or lower resources.memory"
        return Check(host, "disk", Verdict.WARN, text, fix)
    return Check(host, "disk", Verdict.PASS, text)


def _clock(host: str, skew: float | None) -> Check:
    if skew is None:
        return Check(host, "clock", Verdict.SKIP, "no task times to compare")
    text = f"{skew:+.1f} s against the manager"
    fix = "run NTP on the host (chrony or systemd-timesyncd)"
    if abs(skew) > SKEW_FAIL_S:  # certificates valid from "now" would be refused there
        return Check(host, "clock", Verdict.FAIL, text, fix)
    if abs(skew) > SKEW_WARN_S:
        return Check(host, "clock", Verdict.WARN, text, fix)
    return Check(host, "clock", Verdict.PASS, text)

"""Running the real CLI's `deploy --json` on the lab: to its end, or SIGKILLed at an event.

Each event is a line, flushed as it happens; a test reads them and kills the process when
the line of the step it wants appears (no hook in the product).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .conftest import ROOT, SwarmLab
from .helpers import cli

Event = dict[str, Any]


@dataclass
class Killed:
    """A deploy killed at a step: its pid, the events it printed, when it died."""

    pid: int
    events: list[Event]
    seconds: float


def deploy_killed_at(
    stack_file: Path,
    certs: Path,
    lab: SwarmLab,
    at: Callable[[Event], bool],
    *,
    then: Callable[[], None] | None = None,
    within: float = 240,
    command: tuple[str, ...] = ("deploy",),
    extra: tuple[str, ...] = (),
) -> Killed:
    """Start `COMMAND STACKFILE --json` (deploy), SIGKILL it as soon as an event matches
    ``at`` (after ``then()``, a bounded wait for what the step must have done), and reap it."""
    started = time.monotonic()
    proc, watchdog = _started((*command, str(stack_file), *extra), certs, lab, within)
    events: list[Event] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line).get("event")
            if event is None:
                break  # the result line: the deploy finished before the kill point
            events.append(event)
            if at(event):
                if then is not None:
                    then()
                os.kill(proc.pid, signal.SIGKILL)
                seconds = time.monotonic() - started
                assert proc.wait(timeout=30) == -signal.SIGKILL
                return Killed(proc.pid, events, seconds)
        code = proc.wait(timeout=30)
        stderr = proc.stderr.read() if proc.stderr else ""
        raise AssertionError(
            f"{' '.join(command)} ended (exit {code}) before the kill point: "
            f"{events[-3:]} {stderr[-800:]}"
        )
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@dataclass
class Rerun:
    code: int
    events: list[Event]
    result: dict[str, Any]
    seconds: float
    stderr: str
    times: list[float] = field(default_factory=list)  # time.monotonic() each event was read


def rerun(
    stack_file: Path,
    certs: Path,
    lab: SwarmLab,
    command: tuple[str, ...] = ("deploy",),
    extra: tuple[str, ...] = (),
    timeout: float = 400,
) -> Rerun:
    """`COMMAND STACKFILE --json` (deploy) to its end; its events, result and duration."""
    started = time.monotonic()
    done = cli(
        *command,
        str(stack_file),
        *extra,
        "--json",
        "--certs-dir",
        str(certs),
        docker_host=lab.docker_host,
        timeout=timeout,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    events = [line["event"] for line in lines if "event" in line]
    result = next((line["result"] for line in lines if "result" in line), {})
    return Rerun(done.returncode, events, result, time.monotonic() - started, done.stderr)


def deploy_disturbed_at(
    stack_file: Path,
    certs: Path,
    lab: SwarmLab,
    at: Callable[[Event], bool],
    fault: Callable[[], None],
    *,
    within: float = 400,
) -> Rerun:
    """`deploy STACKFILE --json` to its own end, with ``fault()`` done (in a thread, while
    the deploy goes on) as soon as an event matches ``at``; the fault's error, if any, is
    raised after the deploy ended."""
    started = time.monotonic()
    proc, watchdog = _started(("deploy", str(stack_file)), certs, lab, within)
    failed: list[BaseException] = []

    def disturb() -> None:
        try:
            fault()
        except BaseException as error:  # raised in the test's thread below
            failed.append(error)

    thread: threading.Thread | None = None
    events: list[Event] = []
    times: list[float] = []
    result: dict[str, Any] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            parsed = json.loads(line)
            if "event" not in parsed:
                result = parsed.get("result", {})
                continue
            events.append(parsed["event"])
            times.append(time.monotonic())
            if thread is None and at(parsed["event"]):
                thread = threading.Thread(target=disturb, daemon=True)
                thread.start()
        code = proc.wait(timeout=30)
        stderr = proc.stderr.read() if proc.stderr else ""
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert thread is not None, f"deploy ended (exit {code}) before the fault: {events[-3:]}"
    thread.join(timeout=120)
    assert not thread.is_alive(), "the fault did not end within 120 s"
    if failed:
        raise failed[0]
    return Rerun(code, events, result, time.monotonic() - started, stderr, times)


def _started(
    args: tuple[str, ...], certs: Path, lab: SwarmLab, within: float
) -> tuple[subprocess.Popen[str], threading.Timer]:
    """`swarmredis ARGS --json` started, and a running timer that kills it after
    ``within`` seconds (it bounds the caller's reading of its lines)."""
    command = [sys.executable, "-m", "swarmredis", *args, "--json", "--certs-dir", str(certs)]
    proc = subprocess.Popen(
        [*command, "--docker-host", lab.docker_host],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    watchdog = threading.Timer(within, proc.kill)
    watchdog.start()
    return proc, watchdog

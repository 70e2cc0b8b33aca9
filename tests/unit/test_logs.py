"""plan/logs.py: Docker's service log lines -> node, host, time; merged; --since."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from swarmredis.plan.logs import LogLine, merged, parse_line, prefix, since_timestamp

DETAILS = (
    "com.docker.swarm.node.id=h3id,com.docker.swarm.service.id=svc,"
    "com.docker.swarm.task.id=task0123456789"
)
HOSTS = {"h3id": "lab-h3"}


def test_a_line_with_details_gives_node_host_task_and_text() -> None:
    raw = f"2026-12-07T08:56:35.8074408Z {DETAILS} 7:M 07 Dec 2026 * Ready to accept connections"
    line = parse_line(raw, "node-1", HOSTS)
    assert line is not None
    assert (line.node, line.host, line.task) == ("node-1", "lab-h3", "task01234567")
    assert line.text == "7:M 07 Dec 2026 * Ready to accept connections"
    assert line.nanos % 1_000_000_000 == 807440800  # trimmed zeros put back
    assert line.time == "2026-12-07T08:56:35.807440Z"
    assert prefix(line, 16) == "node-1@lab-h3   "


def test_lines_without_a_time_are_left_out_and_unknown_hosts_show_their_id() -> None:
    assert parse_line("no time here", "node-1", HOSTS) is None
    line = parse_line("2026-12-07T08:56:35Z plain text, no details", "node-2", {})
    assert line is not None and line.host == "?" and line.text == "plain text, no details"
    other = parse_line(f"2026-12-07T08:56:35Z {DETAILS.replace('h3id', 'otherhost')} x", "n", {})
    assert other is not None and other.host == "otherhost"


def test_merged_in_time_order_whatever_the_trimmed_fractions() -> None:
    def at(stamp: str, node: str) -> LogLine:
        line = parse_line(f"{stamp} {DETAILS} text", node, HOSTS)
        assert line is not None
        return line

    # lexicographically "…35.9Z" > "…35.10001Z", in time it is the other way round
    a = [at("2026-12-07T08:56:35.10001Z", "node-1"), at("2026-12-07T08:56:36Z", "node-1")]
    b = [at("2026-12-07T08:56:35.9Z", "node-2"), at("2026-12-07T08:56:35.5Z", "node-2")]
    assert [(line.node, line.time[17:26]) for line in merged([a, b])] == [
        ("node-1", "35.100010"),
        ("node-2", "35.500000"),
        ("node-2", "35.900000"),
        ("node-1", "36.000000"),
    ]


NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds_back"),
    [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1.5h", 5400)],
)
def test_since_as_a_duration(text: str, seconds_back: float) -> None:
    assert since_timestamp(text, NOW) == NOW.timestamp() - seconds_back


def test_since_as_a_time_or_unix_seconds() -> None:
    assert since_timestamp("2026-12-07T08:00:00Z", NOW) == NOW.timestamp() - 3600
    assert since_timestamp("2026-12-07T08:00:00", NOW) == NOW.timestamp() - 3600  # UTC
    assert since_timestamp("1700000000", NOW) == 1700000000.0


def test_since_refuses_anything_else_and_says_what_it_takes() -> None:
    with pytest.raises(ValueError, match=r"--since '5x': expected a duration \(90s, 10m"):
        since_timestamp("5x", NOW)

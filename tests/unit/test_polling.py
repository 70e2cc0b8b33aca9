"""The delays between polls (pure)."""

from __future__ import annotations

import pytest

from swarmredis.engine.polling import Backoff


def test_delays_start_short_and_grow_to_the_cap() -> None:
    backoff = Backoff(first=0.05, factor=2, cap=0.3)
    assert [backoff.delay() for _ in range(5)] == pytest.approx([0.05, 0.1, 0.2, 0.3, 0.3])


def test_a_delay_is_never_shorter_than_the_check_took() -> None:
    backoff = Backoff(first=0.05, factor=2, cap=0.3)
    assert backoff.delay(took=1.2) == pytest.approx(1.2)
    assert backoff.delay() == pytest.approx(0.1)  # the schedule went on meanwhile

"""Camera health transitions and reconnection back-off."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from vigie_ingest.domain.health import SourceHealth, State, backoff_s


def test_a_lost_source_goes_stalled_then_reconnecting_then_up():
    health = SourceHealth()
    assert health.frames_flowing().state is State.UP
    assert health.frames_flowing() is None  # no news is not published
    stalled = health.frames_stopped("no frame for 10 s")
    assert (stalled.state, stalled.previous) == (State.STALLED, State.UP)
    first = health.retrying("connection refused", 1.2)
    second = health.retrying("connection refused", 2.5)
    assert [(c.state, c.attempt) for c in (first, second)] == [
        (State.RECONNECTING, 1), (State.RECONNECTING, 2)]
    up = health.frames_flowing()
    assert (up.state, up.previous, health.attempt) == (State.UP, State.RECONNECTING, 0)


def test_a_source_that_never_came_up_is_not_reported_stalled():
    health = SourceHealth()
    assert health.frames_stopped("timeout") is None
    assert health.retrying("timeout", 1).state is State.RECONNECTING


@given(attempt=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_backoff_grows_exponentially_with_jitter_and_stays_under_the_cap(attempt, seed):
    delay = backoff_s(attempt, 1.0, 60.0, random.Random(seed))
    ceiling = min(60.0, 2.0 ** (attempt - 1))
    assert ceiling / 2 <= delay <= ceiling

"""Camera source health: a small state machine and the reconnection back-off."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    UP = "up"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    DOWN = "down"


@dataclass(frozen=True)
class Change:
    state: State
    previous: State | None
    reason: str
    attempt: int = 0
    retry_in_s: float = 0.0


class SourceHealth:
    """Folds what a camera runner observes into state changes worth publishing."""

    def __init__(self) -> None:
        self.state: State | None = None
        self.attempt = 0

    def _to(self, state: State, reason: str, retry_in_s: float = 0.0) -> Change | None:
        if state == self.state and state is not State.RECONNECTING:
            return None
        change = Change(state, self.state, reason, self.attempt, retry_in_s)
        self.state = state
        return change

    def frames_flowing(self) -> Change | None:
        self.attempt = 0
        return self._to(State.UP, "frames flowing")

    def frames_stopped(self, reason: str) -> Change | None:
        if self.state is State.UP:
            return self._to(State.STALLED, reason)
        return None

    def retrying(self, reason: str, retry_in_s: float) -> Change | None:
        self.attempt += 1
        return self._to(State.RECONNECTING, reason, retry_in_s)

    def failed(self, reason: str) -> Change | None:
        return self._to(State.FAILED, reason)

    def down(self, reason: str) -> Change | None:
        return self._to(State.DOWN, reason)


def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Exponential back-off with equal jitter: in [d/2, d], d = min(cap, base * 2^(attempt-1))."""
    ceiling = min(cap_s, base_s * 2 ** max(0, attempt - 1))
    return float(ceiling / 2 + rng.uniform(0, ceiling / 2))

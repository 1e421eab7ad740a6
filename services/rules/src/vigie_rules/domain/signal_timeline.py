"""What one traffic signal showed, over the last minutes of event time: a bounded, serialisable
timeline that answers "which state was in force at t?" the same way whatever the order in which
observations arrived (within a tolerance).

An observation (t, state) holds from t until the next observation of the signal, for at most
`MAX_AGE_MS`: after that the signal is UNKNOWN (a stalled colour adapter or controller feed must
not leave a red light on forever). Two observations of one instant that disagree make that
instant UNKNOWN, whichever arrived first.

Observations arrive out of order by up to `tolerance_ms` of the newest one seen (the
*watermark* is newest - tolerance). Observations newer than the watermark wait as they are in
`recent`; once the watermark passes them they are final (nothing older can arrive without being
late) and fold into `runs`: maximal stretches of one state whose consecutive observations are at
most MAX_AGE_MS apart, so a per-frame colour feed costs one run per state change, not one entry
per frame. A late observation (not newer than the watermark) is refused: `observe` returns
False and the caller counts it. Runs are pruned to `HISTORY_MS` behind the newest
observation and to `MAX_RUNS`, so the timeline stays small whatever the feed's rate.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from vigie.rules.v1.signal_pb2 import SignalState

MAX_AGE_MS = 30_000
"""An observation stops being in force this long (event time) after it was made."""
HISTORY_MS = 120_000
"""Runs that ended this long before the newest observation are dropped."""
MAX_RUNS = 64
"""At most this many settled runs are kept (the oldest go first)."""

UNKNOWN = SignalState.SIGNAL_STATE_UNKNOWN

Run = tuple[int, int, int]
"""(first_ms, last_ms, state): the signal was observed in `state` from first to last."""


def _state(value: int) -> int:
    """Known proto states pass; UNSPECIFIED and unknown numbers are UNKNOWN."""
    if value in (SignalState.SIGNAL_STATE_RED, SignalState.SIGNAL_STATE_AMBER,
                 SignalState.SIGNAL_STATE_GREEN, SignalState.SIGNAL_STATE_OFF):
        return value
    return UNKNOWN


@dataclass(slots=True)
class SignalTimeline:
    """One signal's observations. `runs` are settled (older than the watermark), `recent` are
    (t_ms, state) pairs newer than it, sorted, one per instant."""

    max_seen_ms: int | None = None
    runs: list[Run] = field(default_factory=list)
    recent: list[tuple[int, int]] = field(default_factory=list)

    def copy(self) -> SignalTimeline:
        return SignalTimeline(self.max_seen_ms, list(self.runs), list(self.recent))

    def watermark(self, tolerance_ms: int) -> int | None:
        """Event time up to which every on-time observation has arrived."""
        return None if self.max_seen_ms is None else self.max_seen_ms - tolerance_ms

    def observe(self, t_ms: int, state: int, tolerance_ms: int) -> bool:
        """Record an observation; False (and nothing recorded) when it is late: not newer than
        the newest observation minus the tolerance."""
        newest = self.max_seen_ms
        if newest is not None and t_ms <= newest - tolerance_ms:
            return False
        state = _state(state)
        i = bisect.bisect_left(self.recent, (t_ms, -1))
        if i < len(self.recent) and self.recent[i][0] == t_ms:
            if self.recent[i][1] != state:
                self.recent[i] = (t_ms, UNKNOWN)
        else:
            self.recent.insert(i, (t_ms, state))
        self.max_seen_ms = t_ms if self.max_seen_ms is None else max(self.max_seen_ms, t_ms)
        self._settle(self.max_seen_ms - tolerance_ms)
        return True

    def _settle(self, watermark: int) -> None:
        settled = 0
        for t, state in self.recent:
            if t > watermark:
                break
            settled += 1
            last = self.runs[-1] if self.runs else None
            if last is not None and last[2] == state and t - last[1] <= MAX_AGE_MS:
                self.runs[-1] = (last[0], t, state)
            else:
                self.runs.append((t, t, state))
        del self.recent[:settled]
        if self.max_seen_ms is not None:
            horizon = self.max_seen_ms - HISTORY_MS
            self.runs = [r for r in self.runs if r[1] >= horizon]
        del self.runs[:-MAX_RUNS]

    def _entries(self) -> list[Run]:
        return [*self.runs, *((t, t, s) for t, s in self.recent)]

    def state_at(self, t_ms: int) -> tuple[int, int | None]:
        """(state in force at t_ms, since when that state has been observed without a break);
        (UNKNOWN, None) when nothing in force is known."""
        entries = self._entries()
        i = bisect.bisect_right(entries, (t_ms, 2**62, 2**62)) - 1
        if i < 0:
            return UNKNOWN, None
        first, last, state = entries[i]
        if t_ms > last and t_ms - last > MAX_AGE_MS:
            return UNKNOWN, None
        if state == UNKNOWN:
            return UNKNOWN, None
        since = first
        while i > 0:
            p_first, p_last, p_state = entries[i - 1]
            if p_state != state or since - p_last > MAX_AGE_MS:
                break
            since, i = p_first, i - 1
        return state, since

    def to_dict(self) -> dict[str, Any]:
        return {"max_seen_ms": self.max_seen_ms, "runs": [list(r) for r in self.runs],
                "recent": [list(r) for r in self.recent]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignalTimeline:
        seen = data.get("max_seen_ms")
        return cls(None if seen is None else int(seen),
                   [(int(a), int(b), int(s)) for a, b, s in data.get("runs", [])],
                   [(int(t), int(s)) for t, s in data.get("recent", [])])

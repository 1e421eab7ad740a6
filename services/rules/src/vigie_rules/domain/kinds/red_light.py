"""Red light: a vehicle (car, truck, bus, motorcycle by default) crossing the stop line
(`geometry.line`, with the hysteresis of `tracking.line_steps`) in the rule's `direction` (any
direction without one) is a *crossing*, counted "in:<class>" in the rule's window. It waits in
the rule's memory until the signal's state at its time is settled, then becomes an alert if the
signal was RED both when the vehicle was last seen before the line and when it was first seen
beyond it (so a vehicle that entered on amber is not flagged by a change to red between two
frames).

The signal is `signal_of(rule)`: the rule's controller `signal_id`, else its own rule_id (the
colour of `geometry.signal_region`, classified by `signal_colour` and published by the
adapter). The engine keeps a short timeline per signal (`signal_timeline`): an observation holds
until the next one, for at most 30 s. Frames and observations travel on different topics, so
their relative arrival order is not reproducible; a crossing at t is therefore decided by an
event-time join: once the signal's own observations are settled past t (newest observation -
the signal tolerance, default 2 s, >= t), or once the camera's frames are SIGNAL_MAX_WAIT_MS
(30 s) past t (a lagging or dead feed), whichever comes first. Any interleaving in which
observations of one signal are out of order by less than the tolerance and the two topics are
less than 30 s of event time apart gives the same alerts. Episode = the crossing (its event
time), per track; `raised_at` and `frame_id` are the crossing frame's, whatever event decided
it, and a crossing decided with no known state counts "no_signal". An alert counts in the rule
window open when it is decided; the end of a run (`engine.flush`) decides every waiting
crossing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vigie.common.v1.common_pb2 import BoundingBox
from vigie.rules.v1.rule_pb2 import Rule, RuleKind
from vigie.rules.v1.signal_pb2 import SignalState

from vigie_rules.domain.classes import VEHICLE_CLASSES
from vigie_rules.domain.engine_state import Box
from vigie_rules.domain.episodes import ms, seconds
from vigie_rules.domain.kind import FrameContext, Kind, SettleContext
from vigie_rules.domain.tracking import direction_of, direction_sign, line_of, line_steps

SIGNAL_MAX_WAIT_MS = 30_000
"""A crossing waits for its signal's observations at most until the camera's frames are this far
past it (the signal feed lags or died); it is then decided with what is known."""

_RED = SignalState.SIGNAL_STATE_RED
_UNKNOWN = SignalState.SIGNAL_STATE_UNKNOWN


@dataclass(slots=True)
class Crossing:
    """A vehicle crossed the stop line; decided once the signal state at that time is known."""

    track_id: int
    class_name: str
    before_ms: int  # event time the vehicle was last seen before the line
    t_ms: int  # event time of the first frame beyond the line
    frame_id: str
    box: Box

    def to_dict(self) -> dict[str, Any]:
        return {"track_id": self.track_id, "class_name": self.class_name,
                "before_ms": self.before_ms, "t_ms": self.t_ms, "frame_id": self.frame_id,
                "box": list(self.box)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Crossing:
        x0, y0, x1, y1 = (float(v) for v in data["box"])
        return cls(int(data["track_id"]), str(data["class_name"]), int(data["before_ms"]),
                   int(data["t_ms"]), str(data["frame_id"]), (x0, y0, x1, y1))


@dataclass(slots=True)
class Memory:
    # Crossings waiting for the signal state, in event-time order (replaced, never mutated).
    crossings: list[Crossing] = field(default_factory=list)
    # Event time of the last alert per track (cooldown).
    red_alerts: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"crossings": [c.to_dict() for c in self.crossings],
                "red_alerts": {str(k): v for k, v in sorted(self.red_alerts.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Memory:
        return cls([Crossing.from_dict(c) for c in data.get("crossings", [])],
                   {int(k): int(v) for k, v in data.get("red_alerts", {}).items()})

    def copy(self) -> Memory:
        return Memory(list(self.crossings), dict(self.red_alerts))

    def pause(self) -> None:
        """Crossings already made wait for their signal state all the same."""


def signal_of(rule: Rule) -> str:
    """The signal a red-light rule follows: its controller signal_id, else its own rule_id
    (the colour of its signal region, published under that id)."""
    return rule.signal_id or rule.rule_id


def step(ctx: FrameContext) -> None:
    """Record each vehicle crossing the stop line in the counted direction (any direction
    without one); `settle` raises the alert once the signal state is known."""
    line = line_of(ctx.rule)
    if line is None:
        return
    start, end = line
    memory = ctx.memory(Memory)
    in_sign = direction_sign(start, end, direction_of(ctx.rule))
    for o, sign, before_ms in line_steps(ctx, start, end):
        if in_sign and sign != in_sign:
            continue
        ctx.count(f"in:{o.class_name}")
        b = o.box
        memory.crossings = [*memory.crossings, Crossing(
            o.track_id, o.class_name, ctx.t if before_ms is None else before_ms, ctx.t,
            ctx.frame.frame.frame_id, (b.x_min, b.y_min, b.x_max, b.y_max))]


def settle(ctx: SettleContext) -> None:
    """Decide the crossings whose signal state is settled: crossings at t with t <= max(newest
    frame - SIGNAL_MAX_WAIT_MS, newest observation of the signal - tolerance) (all of them at
    the end of a run)."""
    memory = ctx.memory(Memory)
    if not memory.crossings:
        return
    camera, rule = ctx.camera, ctx.rule
    signal = signal_of(rule)
    timeline = camera.signals.get(signal)
    horizons = [h for h in (
        timeline.watermark(ctx.tolerance_ms) if timeline is not None else None,
        None if camera.max_seen_ms is None else camera.max_seen_ms - SIGNAL_MAX_WAIT_MS)
        if h is not None]
    horizon = max(horizons) if horizons else None
    ready = [c for c in memory.crossings
             if ctx.final or (horizon is not None and c.t_ms <= horizon)]
    if not ready:
        return
    memory.crossings = memory.crossings[len(ready):]
    cooldown = ms(rule.thresholds.cooldown, 0)
    for c in ready:
        before, _ = timeline.state_at(c.before_ms) if timeline else (_UNKNOWN, None)
        now, red_since = timeline.state_at(c.t_ms) if timeline else (_UNKNOWN, None)
        if now == _UNKNOWN:
            ctx.state.counts["no_signal"] = ctx.state.counts.get("no_signal", 0) + 1
        if before != _RED or now != _RED:
            continue
        last = memory.red_alerts.get(c.track_id)
        if last is not None and c.t_ms - last < cooldown:
            continue
        memory.red_alerts[c.track_id] = c.t_ms
        attributes = {"class_name": c.class_name, "signal_id": signal}
        if red_since is not None:
            attributes["red_for_s"] = seconds(c.t_ms - red_since)
        x0, y0, x1, y1 = c.box
        ctx.raise_alert(per_track=c.track_id, episode_ms=c.t_ms, track_ids=[c.track_id],
                        boxes=[BoundingBox(x_min=x0, y_min=y0, x_max=x1, y_max=y1)],
                        classes=[c.class_name], frame_id=c.frame_id, raised_ms=c.t_ms,
                        attributes=attributes)
    newest = ready[-1].t_ms
    memory.red_alerts = {k: v for k, v in memory.red_alerts.items() if newest - v < cooldown}


def spec_problems(spec: Mapping[str, Any]) -> list[str]:
    if spec["signal_region"] is None and spec["signal_id"] is None:
        return ["signal_region: red_light rules need a signal source: signal_region (the "
                "signal's colour on the image) or signal_id (an external controller)"]
    if spec["signal_region"] is not None and spec["signal_id"] is not None:
        return ["signal_id: give either signal_region or signal_id, not both"]
    return []


def watches_colour(rule: Rule) -> bool:
    """A red-light rule whose signal state comes from the colour of its signal region."""
    return KIND.matches(rule) and not rule.signal_id and rule.geometry.HasField("signal_region")


KIND = Kind(
    name="red_light", enum=RuleKind.RULE_KIND_RED_LIGHT, title="Red light",
    description="A vehicle crosses the stop line while the signal is red (the signal's colour "
                "in signal_region, or a controller's signal_id).",
    geometry="line", required=("line",), optional=("direction", "signal_region", "signal_id"),
    default_classes=VEHICLE_CLASSES, memory=Memory, step=step, settle=settle,
    signal_of=signal_of, spec_problems=spec_problems)

"""Weapon visible: a detection of the rule's classes (knife by default, min_confidence 0.5 by
default) in the zone (the whole image without one) on WEAPON_RUN consecutive frames of one
track; untracked detections on WEAPON_RUN of the last WEAPON_RECENT frames make one rule-level
episode. Default cooldown 60 s."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.classes import WEAPON_CLASSES
from vigie_rules.domain.episodes import new_episode
from vigie_rules.domain.kind import FrameContext, Kind

WEAPON_RUN = 3
"""Consecutive frames of one track with a qualifying detection..."""
WEAPON_RECENT = 5
"""...or, for untracked detections, WEAPON_RUN of the last WEAPON_RECENT frames."""


@dataclass(slots=True)
class Memory:
    # Untracked detections: (t_ms, present) of the last frames.
    recent: list[tuple[int, bool]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"recent": [list(r) for r in self.recent]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Memory:
        return cls([(int(t), bool(p)) for t, p in data.get("recent", [])])

    def copy(self) -> Memory:
        return Memory(list(self.recent))

    def pause(self) -> None:
        self.recent.clear()


def step(ctx: FrameContext) -> None:
    rs = ctx.state
    memory = ctx.memory(Memory)
    inside = [o for o in ctx.objects if ctx.in_zone(o)]
    seen = set()
    for o in [o for o in ctx.tracked() if ctx.in_zone(o)]:
        seen.add(o.track_id)
        ts = ctx.track(o)
        ts.run += 1
        if ts.run == 1:
            ts.cond_since_ms = ctx.t
        if ts.run >= WEAPON_RUN and ts.cond_since_ms is not None:
            ctx.alert_track(o, ts, ts.cond_since_ms, {"confidence": f"{o.confidence:.2f}"})
    for track_id, ts in rs.tracks.items():
        if track_id not in seen:
            ts.run, ts.cond_since_ms = 0, None
    untracked = [o for o in inside if not o.track_id]
    memory.recent = [*memory.recent, (ctx.t, bool(untracked))][-WEAPON_RECENT:]
    present = [t for t, p in memory.recent if p]
    if len(present) < WEAPON_RUN:
        rs.cond_since_ms = None
        return
    if rs.cond_since_ms is None:
        rs.cond_since_ms = present[0]
    if untracked and new_episode(rs, rs.cond_since_ms, ctx.t, ctx.cooldown_ms()):
        ctx.raise_alert([], rs.cond_since_ms, untracked,
                        {"confidence": f"{max(o.confidence for o in untracked):.2f}"},
                        per_track=None)


KIND = Kind(
    name="weapon_visible", enum=RuleKind.RULE_KIND_WEAPON_VISIBLE, title="Weapon visible",
    description="A weapon (detector class) visible above min_confidence on several frames.",
    geometry="zone", optional=("zone",), default_classes=WEAPON_CLASSES,
    default_min_confidence=0.5, default_cooldown_ms=60_000, memory=Memory, step=step)

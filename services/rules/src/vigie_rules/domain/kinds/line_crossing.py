"""Line crossing: counts, per class and direction, tracks whose path crosses the segment
(with the hysteresis of `tracking.line_steps`), as "in:<class>" / "out:<class>" in the rule's
window. "in" is the rule's `direction` (the side the direction vector points to), or, without a
direction, left-to-right as seen walking from the line's start toward its end (+1 of
`segment_crossing`). An alert fires only when `thresholds.min_count` > 0 and the window's count
reaches it (crossings "in" when a direction is set, all crossings otherwise): once per window,
episode = window start, no track. A person whose track breaks behind an occluder and goes on
under a new id (`relink`) is counted once."""

from __future__ import annotations

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.episodes import new_episode
from vigie_rules.domain.kind import FrameContext, Kind, Obj
from vigie_rules.domain.tracking import direction_of, direction_sign, line_of, line_steps


def step(ctx: FrameContext) -> None:
    line = line_of(ctx.rule)
    if line is None:
        return
    start, end = line
    direction = direction_of(ctx.rule)
    in_sign = direction_sign(start, end, direction) or 1
    for o, sign, _ in line_steps(ctx, start, end):
        ctx.count(f"{'in' if sign == in_sign else 'out'}:{o.class_name}")
        _count_threshold(ctx, o, any(direction))


def _count_threshold(ctx: FrameContext, o: Obj, directed: bool) -> None:
    min_count = ctx.rule.thresholds.min_count
    window = ctx.state.window_start_ms
    if min_count <= 0 or window is None:
        return
    counted = sum(v for k, v in ctx.state.counts.items()
                  if k.startswith("in:") or (not directed and k.startswith("out:")))
    if counted >= min_count and new_episode(ctx.state, window, ctx.t, ctx.cooldown_ms()):
        ctx.raise_alert([o.track_id], window, [o], {"count": str(counted)}, per_track=None)


KIND = Kind(
    name="line_crossing", enum=RuleKind.RULE_KIND_LINE_CROSSING, title="Line crossings",
    description="Counts objects crossing the line, per class and direction; alerts when a "
                "window's count reaches min_count.",
    geometry="line", required=("line",), optional=("direction", "tolerance_deg", "min_count"),
    relinks=True, step=step)

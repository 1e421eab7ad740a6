"""Zone intrusion: a tracked object of the rule's classes (any class by default) enters the
zone; one alert per track and presence (a re-entry after leaving is a new episode)."""

from __future__ import annotations

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.kind import FrameContext, Kind
from vigie_rules.domain.tracking import zone_presence


def step(ctx: FrameContext) -> None:
    for o in ctx.tracked():
        ts = zone_presence(ctx, o)
        if ts is not None and ts.zone_since_ms is not None:
            ctx.alert_track(o, ts, ts.zone_since_ms, {})


KIND = Kind(
    name="zone_intrusion", enum=RuleKind.RULE_KIND_ZONE_INTRUSION, title="Zone intrusion",
    description="An object of the watched classes enters the zone.",
    geometry="zone", required=("zone",), step=step)

"""Zone intrusion: a tracked object of the rule's classes (any class by default) enters the
zone; one alert per track and presence (a re-entry after leaving is a new episode). A new track
id that continues one lost behind an occluder (`relink`) continues its presence: no second
alert for the same entry. An object is alerted on once it is seen in the zone on a second
frame: a tracked box seen there on a single frame (a duplicate box the tracker follows for a
frame or two, a flicker at the zone's edge) is not an entry."""

from __future__ import annotations

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.kind import FrameContext, Kind
from vigie_rules.domain.tracking import zone_presence


def step(ctx: FrameContext) -> None:
    for o in ctx.tracked():
        ts = zone_presence(ctx, o)
        if ts is not None and ts.zone_since_ms is not None and ctx.t > ts.zone_since_ms:
            ctx.alert_track(o, ts, ts.zone_since_ms, {})


KIND = Kind(
    name="zone_intrusion", enum=RuleKind.RULE_KIND_ZONE_INTRUSION, title="Zone intrusion",
    description="An object of the watched classes enters the zone.",
    geometry="zone", required=("zone",), relinks=True, step=step)

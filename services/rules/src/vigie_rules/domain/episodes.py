"""Episodes and alerts, shared by every kind.

An alert is raised once per episode: the period during which the kind's condition holds (a
track in the zone, a vehicle still, a crowd above the count...). The episode is named by the
event time (ms) at which the condition started, which is also the alert's `started_at`, and the
alert id is sha256(rule, camera, track or "-", episode) (`alert_ids`). When an episode ends and
a new one starts within `thresholds.cooldown` of the last alert (same track for per-track
kinds, same rule otherwise), the new episode is absorbed silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from google.protobuf.duration_pb2 import Duration
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.rules.v1.rule_pb2 import Rule, RuleKind

from vigie_rules.domain.alert_ids import alert_id
from vigie_rules.domain.classes import PERSON


class EpisodeHolder(Protocol):
    """A track's or a rule's state: the episode alerted last, and when."""

    alerted_episode_ms: int | None
    last_alert_ms: int | None


def new_episode(holder: EpisodeHolder, episode_ms: int, t: int, cooldown_ms: int) -> bool:
    """Whether to raise an alert for this episode: once per episode, and not within the cooldown
    of the previous alert (an episode starting within it is absorbed)."""
    if holder.alerted_episode_ms == episode_ms:
        return False
    holder.alerted_episode_ms = episode_ms
    if holder.last_alert_ms is not None and t - holder.last_alert_ms < cooldown_ms:
        return False
    holder.last_alert_ms = t
    return True


def ms(duration: Duration, default: int) -> int:
    """A threshold duration in ms; `default` when it is unset (zero)."""
    value = duration.ToMilliseconds()
    return value if value > 0 else default


def seconds(ms: int) -> str:
    """An alert attribute in seconds: 2000 -> "2", 1500 -> "1.5"."""
    return f"{ms / 1000:g}"


def involves_persons(kind_involves_persons: bool, classes: Iterable[str]) -> bool:
    """AlertRaised.involves_persons: the kind shows people, or a person is in the evidence."""
    return kind_involves_persons or any(c == PERSON for c in classes)


def make_alert(*, kind_name: str, kind_enum: RuleKind, title: str, persons: bool,
               rule: Rule, camera_id: str, per_track: int | None, episode_ms: int,
               track_ids: Sequence[int], boxes: Sequence[BoundingBox], frame_id: str,
               raised_ms: int, attributes: dict[str, str]) -> AlertRaised:
    """An alert of a frame-driven kind: id from (rule, camera, track or "-", episode)."""
    alert = AlertRaised(
        alert_id=alert_id(rule.rule_id, camera_id, per_track, episode_ms),
        rule_id=rule.rule_id, rule_kind=kind_enum, camera_id=camera_id,
        severity=rule.severity, title=f"{title} - {rule.name or rule.rule_id}",
        track_ids=list(track_ids), boxes=boxes, frame_id=frame_id, attributes=attributes,
        involves_persons=persons, rule_kind_name=kind_name)
    alert.started_at.FromMilliseconds(episode_ms)
    alert.raised_at.FromMilliseconds(raised_ms)
    return alert

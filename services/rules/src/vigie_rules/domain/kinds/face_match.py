"""Face match: watchlist matches (vigie.faces.v1) -> alerts that need two confirmations.

Face matches travel on their own topic (6 partitions, key camera_id), not co-partitioned with
detections, so they have their own small state per camera, `FaceState`, and their own pure step:
`evaluate_face_match(state, rules, match) -> (state, alerts)`.

Which matches count
    A FACE_MATCH rule of the match's camera, enabled and active (schedule) at the match's
    `captured_at`, whose `thresholds.min_match_score` (0 = no extra threshold) the score
    reaches, on top of the face service's own threshold (a match with score < its
    `threshold` is ignored too: it should not exist).

Episodes, cooldown and ids
    A subject's matches on one rule form an episode while they follow each other within
    `PRESENCE_GAP_MS` of event time (one person walking past, or standing in view). An episode
    raises one alert, unless it starts within the rule's cooldown (`thresholds.cooldown`,
    default `DEFAULT_COOLDOWN_MS`) of the previous alert for that subject: then it is absorbed.
    The alert id is sha256(rule, camera, subject, episode start) (`alert_ids.subject_alert_id`),
    `started_at` the episode start, `raised_at` the `captured_at` of the match that raised it.
    Matches are applied in arrival order (one camera's matches arrive in order on its
    partition): a replay gives the same ids; a match older than the subject's current episode
    changes nothing.

Oversight (DESIGN invariant 5)
    Every alert has requires_confirmations = 2 and subject_id set; it carries the match's score,
    threshold, category and match id, never an embedding (matches have none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.face.v1.face_match_pb2 import FaceMatched
from vigie.face.v1.watchlist_pb2 import WatchlistCategory
from vigie.rules.v1.rule_pb2 import Rule, RuleKind

from vigie_rules.domain.alert_ids import subject_alert_id
from vigie_rules.domain.kind import Kind
from vigie_rules.domain.schedule import rule_active

__all__ = ["DEFAULT_COOLDOWN_MS", "KIND", "PRESENCE_GAP_MS", "REQUIRED_CONFIRMATIONS",
           "FaceState", "SubjectEpisode", "evaluate_face_match"]

PRESENCE_GAP_MS = 30_000
"""Matches of one subject less than this far apart (event time) are one episode."""
DEFAULT_COOLDOWN_MS = 300_000
"""Minimum time between two alerts of one rule for one subject, unless the rule sets one."""
REQUIRED_CONFIRMATIONS = 2
"""Distinct operators' confirmations a face-match alert needs before any external dispatch."""


@dataclass(slots=True)
class SubjectEpisode:
    """One subject on one rule: the current episode and the last alert."""

    episode_ms: int
    last_seen_ms: int
    last_alert_ms: int | None = None
    alerted_episode_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"episode_ms": self.episode_ms, "last_seen_ms": self.last_seen_ms,
                "last_alert_ms": self.last_alert_ms,
                "alerted_episode_ms": self.alerted_episode_ms}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubjectEpisode:
        def opt(value: Any) -> int | None:
            return None if value is None else int(value)

        return cls(int(data["episode_ms"]), int(data["last_seen_ms"]),
                   opt(data.get("last_alert_ms")), opt(data.get("alerted_episode_ms")))


@dataclass(slots=True)
class FaceState:
    """What FACE_MATCH rules remember on one camera, JSON-safe via to_dict/from_dict. Entries are
    dropped once neither their episode nor their cooldown can matter any more, so the state holds
    only the subjects seen in the last few minutes."""

    camera_id: str = ""
    subjects: dict[tuple[str, str], SubjectEpisode] = field(default_factory=dict)

    def copy(self) -> FaceState:
        return FaceState(self.camera_id, {k: SubjectEpisode(v.episode_ms, v.last_seen_ms,
                                                             v.last_alert_ms,
                                                             v.alerted_episode_ms)
                                          for k, v in self.subjects.items()})

    def to_dict(self) -> dict[str, Any]:
        return {"camera_id": self.camera_id,
                "subjects": [{"rule_id": r, "subject_id": s, **e.to_dict()}
                             for (r, s), e in sorted(self.subjects.items())]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceState:
        return cls(str(data.get("camera_id", "")),
                   {(str(e["rule_id"]), str(e["subject_id"])): SubjectEpisode.from_dict(e)
                    for e in data.get("subjects", [])})


def _cooldown_ms(rule: Rule) -> int:
    value = rule.thresholds.cooldown.ToMilliseconds()
    return value if value > 0 else DEFAULT_COOLDOWN_MS


def evaluate_face_match(state: FaceState, rules: Sequence[Rule], match: FaceMatched,
                        ) -> tuple[FaceState, list[AlertRaised]]:
    """Take one watchlist match; return the new state and the alerts raised (at most one per
    FACE_MATCH rule of the camera). `state` is not modified; `rules` may hold any rules."""
    new = state.copy()
    if not new.camera_id:
        new.camera_id = match.camera_id
    elif match.camera_id != new.camera_id:
        raise ValueError(f"face match of camera {match.camera_id!r} given to the state of "
                         f"camera {new.camera_id!r}")
    t = match.captured_at.ToMilliseconds()
    face_rules = sorted((r for r in rules if KIND.matches(r) and r.camera_id == new.camera_id),
                        key=lambda r: r.rule_id)
    _prune(new, {r.rule_id: r for r in face_rules}, t)
    alerts: list[AlertRaised] = []
    if not match.subject_id or match.score < match.threshold:
        return new, alerts
    for rule in face_rules:
        if not rule_active(rule, t) or match.score < rule.thresholds.min_match_score:
            continue
        key = (rule.rule_id, match.subject_id)
        entry = new.subjects.get(key)
        if entry is None or t - entry.last_seen_ms >= PRESENCE_GAP_MS:
            entry = new.subjects[key] = SubjectEpisode(
                t, t, entry.last_alert_ms if entry is not None else None,
                entry.alerted_episode_ms if entry is not None else None)
        elif t < entry.episode_ms:
            continue  # older than the current episode: nothing to add
        entry.last_seen_ms = max(entry.last_seen_ms, t)
        if entry.alerted_episode_ms == entry.episode_ms:
            continue
        entry.alerted_episode_ms = entry.episode_ms
        if entry.last_alert_ms is not None and t - entry.last_alert_ms < _cooldown_ms(rule):
            continue  # a new episode within the cooldown: absorbed
        entry.last_alert_ms = t
        alerts.append(_alert(rule, match, entry.episode_ms))
    return new, alerts


def _prune(state: FaceState, rules: dict[str, Rule], t: int) -> None:
    for key, entry in list(state.subjects.items()):
        rule = rules.get(key[0])
        if rule is None:
            del state.subjects[key]
            continue
        alert_matters = (entry.last_alert_ms is not None
                         and t - entry.last_alert_ms < _cooldown_ms(rule))
        if t - entry.last_seen_ms >= PRESENCE_GAP_MS and not alert_matters:
            del state.subjects[key]


def _alert(rule: Rule, match: FaceMatched, episode_ms: int) -> AlertRaised:
    category = (WatchlistCategory.Name(match.category)
                if match.category in WatchlistCategory.values() else str(match.category))
    alert = AlertRaised(
        alert_id=subject_alert_id(rule.rule_id, match.camera_id, match.subject_id, episode_ms),
        rule_id=rule.rule_id, rule_kind=KIND.enum, rule_kind_name=KIND.name,
        involves_persons=KIND.involves_persons, camera_id=match.camera_id,
        severity=rule.severity, title=f"{KIND.title} - {rule.name or rule.rule_id}",
        boxes=[match.face_box], subject_id=match.subject_id,
        requires_confirmations=REQUIRED_CONFIRMATIONS, frame_id=match.frame_id,
        attributes={"match_id": match.match_id, "score": f"{match.score:.3f}",
                    "threshold": f"{match.threshold:.3f}",
                    "category": category.removeprefix("WATCHLIST_CATEGORY_").lower(),
                    "model_id": match.model_id})
    alert.started_at.FromMilliseconds(episode_ms)
    alert.raised_at.CopyFrom(match.captured_at)
    return alert


KIND = Kind(
    name="face_match", enum=RuleKind.RULE_KIND_FACE_MATCH, title="Watchlist match",
    description="A watchlist face match on the camera (alerts need two operators' "
                "confirmations).",
    geometry="none", optional=("min_match_score",), involves_persons=True, on_detections=False)

"""FACE_MATCH rules: one alert per subject episode with two confirmations required, the rule's
extra score threshold, cooldown per (rule, subject), deterministic ids, a bounded state."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.face.v1.face_match_pb2 import FaceMatched
from vigie.face.v1.watchlist_pb2 import WatchlistCategory
from vigie.rules.v1.rule_pb2 import Rule, RuleKind, Severity
from vigie_rules.domain.alert_ids import subject_alert_id
from vigie_rules.domain.kinds.face_match import (
    DEFAULT_COOLDOWN_MS,
    PRESENCE_GAP_MS,
    FaceState,
    evaluate_face_match,
)

T0 = 1_767_225_600_000
CAM = "cam-gare-1"


def face_rule(rule_id: str = "watch-1", *, camera: str = CAM, min_score: float = 0.0,
              cooldown_s: float = 0, enabled: bool = True) -> Rule:
    r = Rule(rule_id=rule_id, name="Gare - watchlist", camera_id=camera, enabled=enabled,
             kind=RuleKind.RULE_KIND_FACE_MATCH, severity=Severity.SEVERITY_HIGH)
    r.thresholds.min_match_score = min_score
    if cooldown_s:
        r.thresholds.cooldown.FromMilliseconds(int(cooldown_s * 1000))
    return r


def match(t_ms: int, subject: str = "subj-1", *, score: float = 0.6, threshold: float = 0.36,
          camera: str = CAM) -> FaceMatched:
    m = FaceMatched(match_id=f"m-{subject}-{t_ms}", frame_id=f"{camera}/{t_ms}", camera_id=camera,
                    subject_id=subject, score=score, threshold=threshold, model_id="yunet+sface",
                    category=WatchlistCategory.WATCHLIST_CATEGORY_MISSING_PERSON,
                    face_box=BoundingBox(x_min=0.4, y_min=0.2, x_max=0.45, y_max=0.28))
    m.captured_at.FromMilliseconds(T0 + t_ms)
    return m


def feed(rules: Sequence[Rule], matches: Sequence[FaceMatched],
         state: FaceState | None = None) -> tuple[FaceState, list[AlertRaised]]:
    state = state or FaceState()
    out: list[AlertRaised] = []
    for m in matches:
        state, alerts = evaluate_face_match(state, rules, m)
        out += alerts
    return state, out


def starts(alerts: Sequence[AlertRaised]) -> list[tuple[str, str, int]]:
    return [(a.rule_id, a.subject_id, a.started_at.ToMilliseconds() - T0) for a in alerts]


def walking_past(start_ms: int, subject: str = "subj-1", n: int = 30) -> list[FaceMatched]:
    """n matches, 3 per second (one person walking past for 10 s)."""
    return [match(start_ms + 333 * i, subject) for i in range(n)]


def test_a_match_raises_an_alert_that_needs_two_confirmations() -> None:
    _, (alert,) = feed([face_rule()], [match(1000)])
    assert alert.alert_id == subject_alert_id("watch-1", CAM, "subj-1", T0 + 1000)
    assert alert.subject_id == "subj-1" and alert.requires_confirmations == 2
    assert alert.rule_kind == RuleKind.RULE_KIND_FACE_MATCH
    assert alert.rule_kind_name == "face_match" and alert.involves_persons
    assert alert.severity == Severity.SEVERITY_HIGH and alert.camera_id == CAM
    assert alert.raised_at.ToMilliseconds() == alert.started_at.ToMilliseconds() == T0 + 1000
    assert alert.frame_id == f"{CAM}/1000" and alert.boxes[0].x_max == pytest.approx(0.45)
    assert dict(alert.attributes) == {"match_id": "m-subj-1-1000", "score": "0.600",
                                      "threshold": "0.360", "category": "missing_person",
                                      "model_id": "yunet+sface"}
    assert alert.title == "Watchlist match - Gare - watchlist"


@pytest.mark.parametrize(("name", "rules", "matches", "expected"), [
    ("one person walking past: one alert, not thirty",
     [face_rule()], walking_past(0), [("watch-1", "subj-1", 0)]),
    ("two subjects: one alert each",
     [face_rule()], [*walking_past(0), *walking_past(100, "subj-2")],
     [("watch-1", "subj-1", 0), ("watch-1", "subj-2", 100)]),
    ("two rules on the camera: one alert per rule",
     [face_rule("watch-2"), face_rule("watch-1")], walking_past(0),
     [("watch-1", "subj-1", 0), ("watch-2", "subj-1", 0)]),
    ("back after 2 min: a new episode within the 5 min cooldown is absorbed",
     [face_rule()], [*walking_past(0), *walking_past(120_000)], [("watch-1", "subj-1", 0)]),
    ("back after 6 min: a new alert",
     [face_rule()], [*walking_past(0), *walking_past(360_000)],
     [("watch-1", "subj-1", 0), ("watch-1", "subj-1", 360_000)]),
    ("standing in view for 10 min (a match every 10 s) is one episode",
     [face_rule()], [match(10_000 * i) for i in range(60)], [("watch-1", "subj-1", 0)]),
    ("a shorter cooldown of the rule",
     [face_rule(cooldown_s=60)], [*walking_past(0), *walking_past(120_000)],
     [("watch-1", "subj-1", 0), ("watch-1", "subj-1", 120_000)]),
    ("the rule's score threshold on top of the service's",
     [face_rule(min_score=0.7)], [match(0, score=0.65), match(500, score=0.72)],
     [("watch-1", "subj-1", 500)]),
    ("a score below the match's own threshold is ignored",
     [face_rule()], [match(0, score=0.3, threshold=0.36)], []),
    ("a rule of another camera, or disabled, does not fire",
     [face_rule(camera="cam-2"), face_rule("watch-off", enabled=False)], walking_past(0), []),
])
def test_face_match(name: str, rules: list[Rule], matches: list[FaceMatched],
                    expected: list[tuple[str, str, int]]) -> None:
    _, alerts = feed(rules, matches)
    assert starts(alerts) == expected, name
    assert all(a.requires_confirmations == 2 for a in alerts)


def test_schedule_applies_at_the_match_event_time() -> None:
    r = face_rule()
    r.schedule.valid_from.FromMilliseconds(T0 + 60_000)
    _, alerts = feed([r], [match(0), match(30_000), match(61_000)])
    # Matches before the rule starts do not open the episode either.
    assert starts(alerts) == [("watch-1", "subj-1", 61_000)]


def test_an_older_match_arriving_late_changes_nothing() -> None:
    _, alerts = feed([face_rule()], [match(10_000), match(9_000), match(10_500)])
    assert starts(alerts) == [("watch-1", "subj-1", 10_000)]


def test_the_state_forgets_subjects_once_their_cooldown_is_over() -> None:
    rules = [face_rule()]
    state, _ = feed(rules, [match(1000 * i, f"subj-{i}") for i in range(100)])
    assert len(state.subjects) == 100
    later = 100_000 + max(DEFAULT_COOLDOWN_MS, PRESENCE_GAP_MS)
    state, _ = feed(rules, [match(later, "subj-x")], state)
    assert sorted(state.subjects) == [("watch-1", "subj-x")]
    state, _ = feed([], [match(later + 1, "subj-y")], state)  # the rule was deleted
    assert state.subjects == {}


def test_state_round_trips_is_not_mutated_and_belongs_to_one_camera() -> None:
    rules = [face_rule()]
    state, _ = feed(rules, walking_past(0))
    before = json.dumps(state.to_dict(), sort_keys=True)
    evaluate_face_match(state, rules, match(400_000))
    assert json.dumps(state.to_dict(), sort_keys=True) == before
    assert FaceState.from_dict(json.loads(before)) == state
    with pytest.raises(ValueError, match="camera"):
        evaluate_face_match(state, rules, match(0, camera="cam-2"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 900).map(lambda k: k * 1000),
                          st.sampled_from(["a", "b", "c"]), st.floats(0.3, 0.9)),
                max_size=80).map(sorted),
       st.integers(0, 10**6))
def test_replay_and_restart_give_the_same_alerts(
        events: list[tuple[int, str, float]], pick: int) -> None:
    rules = [face_rule(min_score=0.5), face_rule("watch-2", cooldown_s=30)]
    matches = [match(t, s, score=score) for t, s, score in events]
    _, clean = feed(rules, matches)
    _, again = feed(rules, matches)
    assert [a.SerializeToString(deterministic=True) for a in again] == \
        [a.SerializeToString(deterministic=True) for a in clean]
    ids = [a.alert_id for a in clean]
    assert len(ids) == len(set(ids))
    k = pick % (len(matches) + 1)
    state, first = feed(rules, matches[:k])
    restored = FaceState.from_dict(json.loads(json.dumps(state.to_dict())))
    _, rest = feed(rules, matches[k:], restored)
    assert [a.alert_id for a in first + rest] == ids

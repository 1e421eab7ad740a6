"""What a rule kind is: the declaration each file of `kinds/` makes (`KIND = Kind(...)`), and
what its step function sees.

A kind declares its name (the file's name, `Rule.kind_name`), its RuleKind value if it is built
in, the rule fields it needs and reads, what an editor draws for it, the classes it watches by
default, whether its alerts show people, its memory and its functions: `step` for each frame of
detections (kinds driven by other events have none and are evaluated by their own module),
`settle` after every event for decisions that wait (red light waits for the signal), and
`spec_problems` for checks beyond required and optional fields. The spec validation, the engine's
dispatch, ListRuleKinds and the Rule CRD's kind list are all read from these declarations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar

from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.rules.v1.rule_pb2 import Rule, RuleKind

from vigie_rules.domain.engine_state import CameraState, KindMemory, RuleState, TrackState
from vigie_rules.domain.episodes import involves_persons, make_alert, ms, new_episode
from vigie_rules.domain.geometry import point_in_polygon

__all__ = ["KIND_FIELDS", "FrameContext", "Geometry", "Kind", "KindMemory", "Obj",
           "SettleContext"]

Geometry = Literal["zone", "line", "none"]
KIND_FIELDS = ("zone", "line", "direction", "signal_region", "geo_centre", "signal_id",
               "max_dwell_s", "max_stop_s", "min_count", "tolerance_deg", "min_speed_per_s",
               "min_match_score", "max_distance_m")
"""Rule fields (YAML/spec names) that only some kinds use: each kind lists those it needs
(`required`) and those it reads when given (`optional`); any other one is a mistake."""

M = TypeVar("M", bound=KindMemory)


class Obj(NamedTuple):
    """One detection, prepared once per frame."""

    track_id: int
    class_name: str
    confidence: float
    x: float  # reference point: bottom centre of the box (where it touches the ground)
    y: float
    box: BoundingBox
    aspect: float  # width / height in pixels (0 when the box has no height)
    appeared_ms: int | None = None  # Detection.appeared_at (static_object regions), else None


@dataclass(slots=True)
class Frame:
    frame: ObjectsDetected
    t_ms: int
    objects: list[Obj]


@dataclass(frozen=True, eq=False)
class Kind:
    """One rule kind, as its file in `kinds/` declares it."""

    name: str
    """Registry name: the file's name, Rule.kind_name, the YAML `kind:`."""
    title: str
    """Short title for operators; alerts are titled "<title> - <rule name>"."""
    description: str
    """One sentence on what it signals (ListRuleKinds, editors)."""
    geometry: Geometry
    """What an editor draws for it."""
    enum: RuleKind = RuleKind.RULE_KIND_UNSPECIFIED
    """Its RuleKind value if built in; UNSPECIFIED for a plug-in known by name only."""
    required: tuple[str, ...] = ()
    """Fields of KIND_FIELDS a rule of this kind must give."""
    optional: tuple[str, ...] = ()
    """Fields of KIND_FIELDS it reads when given."""
    default_classes: frozenset[str] | None = None
    """Classes watched when the rule names none; None: every class."""
    default_min_confidence: float = 0.0
    default_cooldown_ms: int = 0
    involves_persons: bool = False
    """Its alerts show people (AlertRaised.involves_persons; consumers blur head areas)."""
    on_detections: bool = True
    """Its events are detections: `classes` and `min_confidence` mean something to it."""
    class_choices: tuple[str, ...] | None = None
    """What a rule's `classes` may name: None, the detector's (COCO) classes, and only for kinds
    on detections; a kind driven by other events may give its own categories instead (e.g.
    camera_tampering: the view problems that alert)."""
    camera_optional: bool = False
    """A rule of this kind may leave camera_id empty (it then applies to every camera)."""
    memory: type[KindMemory] | None = None
    """What a rule of this kind remembers beyond tracks and rule-level episodes."""
    relinks: bool = False
    """A track that the camera links to a lost one (the same object, lost behind an occluder:
    `relink`) goes on with the lost track's state in rules of this kind: its episodes, dwell,
    stop and side of a line, rather than starting afresh."""
    step: Callable[[FrameContext], None] | None = None
    """Evaluate one frame; None: driven by other events (see the kind's own module)."""
    settle: Callable[[SettleContext], None] | None = None
    """Decide what waited, after every frame or signal observation (and at the end of a run)."""
    signal_of: Callable[[Rule], str] | None = None
    """The traffic signal a rule of this kind follows (the engine keeps its timeline)."""
    spec_problems: Callable[[Mapping[str, Any]], list[str]] | None = None
    """Problems of a rule spec (field name -> value) beyond its required and optional fields."""
    field_hints: Mapping[str, str] = field(default_factory=dict)
    """Added to "<field>: not used by <kind> rules" for fields people give by mistake."""

    def matches(self, rule: Rule) -> bool:
        """Whether the rule is of this kind (by name, or by enum value; both agree if both set)."""
        if rule.kind_name:
            return rule.kind_name == self.name and rule.kind in (0, self.enum)
        return bool(self.enum) and rule.kind == self.enum


@dataclass(slots=True)
class FrameContext:
    """What a kind's `step` sees: one rule on one frame."""

    kind: Kind
    rule: Rule
    state: RuleState
    camera_id: str
    frame: Frame
    objects: list[Obj]  # passing the class and confidence filters
    zone: list[tuple[float, float]]  # empty: the whole image
    alerts: list[AlertRaised]

    @property
    def t(self) -> int:
        return self.frame.t_ms

    def in_zone(self, o: Obj) -> bool:
        return not self.zone or point_in_polygon((o.x, o.y), self.zone)

    def tracked(self) -> list[Obj]:
        """Filtered objects with a track id, one per track (the most confident)."""
        best: dict[int, Obj] = {}
        for o in self.objects:
            kept = best.get(o.track_id)
            if o.track_id and (kept is None or o.confidence > kept.confidence):
                best[o.track_id] = o
        return [best[k] for k in sorted(best)]

    def track(self, o: Obj) -> TrackState:
        """The rule's state of the object's track, seen now."""
        ts = self.state.tracks.get(o.track_id)
        if ts is None:
            ts = self.state.tracks[o.track_id] = TrackState(last_seen_ms=self.t)
        ts.last_seen_ms = self.t
        ts.class_name = o.class_name
        return ts

    def memory(self, kind_memory: type[M]) -> M:
        return self.state.memory_of(kind_memory)

    def count(self, key: str, n: int = 1) -> None:
        """Add to a count of the rule's current window."""
        self.state.counts[key] = self.state.counts.get(key, 0) + n

    def cooldown_ms(self) -> int:
        return ms(self.rule.thresholds.cooldown, self.kind.default_cooldown_ms)

    def raise_alert(self, track_ids: Sequence[int], episode_ms: int, objs: Sequence[Obj],
                    attributes: dict[str, str], *, per_track: int | None) -> None:
        """An alert on this frame (per_track: its track, or None for a rule-level episode)."""
        kind = self.kind
        alert = make_alert(
            kind_name=kind.name, kind_enum=kind.enum, title=kind.title,
            persons=involves_persons(kind.involves_persons, (o.class_name for o in objs)),
            rule=self.rule, camera_id=self.camera_id, per_track=per_track,
            episode_ms=episode_ms, track_ids=track_ids, boxes=[o.box for o in objs],
            frame_id=self.frame.frame.frame_id, raised_ms=self.t, attributes=attributes)
        alert.raised_at.CopyFrom(self.frame.frame.captured_at)  # exact, to the nanosecond
        self.alerts.append(alert)
        self.count("alerts")

    def alert_track(self, o: Obj, ts: TrackState, episode_ms: int,
                    attributes: dict[str, str]) -> None:
        """A per-track alert for this episode of the track, unless already raised (or within
        the cooldown of the track's last one). A re-linked track's alert id names the track
        seen when the episode started; its attributes list the earlier track ids."""
        if new_episode(ts, episode_ms, self.t, self.cooldown_ms()):
            if ts.fragments:
                attributes = {**attributes,
                              "earlier_track_ids": ",".join(str(k) for k, _ in ts.fragments)}
            self.raise_alert([o.track_id], episode_ms, [o],
                             {"class_name": o.class_name, **attributes},
                             per_track=ts.episode_track(o.track_id, episode_ms))


@dataclass(slots=True)
class SettleContext:
    """What a kind's `settle` sees: one rule after a frame or a signal observation."""

    kind: Kind
    rule: Rule
    state: RuleState
    camera: CameraState
    alerts: list[AlertRaised]
    tolerance_ms: int  # how far signal observations may arrive out of order
    final: bool  # the end of a finite stream: decide everything

    def memory(self, kind_memory: type[M]) -> M:
        return self.state.memory_of(kind_memory)

    def raise_alert(self, *, per_track: int | None, episode_ms: int, track_ids: Sequence[int],
                    boxes: Sequence[BoundingBox], classes: Sequence[str], frame_id: str,
                    raised_ms: int, attributes: dict[str, str]) -> None:
        kind = self.kind
        self.alerts.append(make_alert(
            kind_name=kind.name, kind_enum=kind.enum, title=kind.title,
            persons=involves_persons(kind.involves_persons, classes), rule=self.rule,
            camera_id=self.camera.camera_id, per_track=per_track, episode_ms=episode_ms,
            track_ids=track_ids, boxes=boxes, frame_id=frame_id, raised_ms=raised_ms,
            attributes=attributes))
        self.state.counts["alerts"] = self.state.counts.get("alerts", 0) + 1

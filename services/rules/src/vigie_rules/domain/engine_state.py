"""Per-camera state of the rules engine, serialisable to a plain dict (JSON-safe) so a Faust
table, a changelog or a checkpoint file can hold it. Kinds keep what is theirs alone in a
`KindMemory` of their own (declared in their file), held by the rule's state.

The engine never mutates a state it is given: `evaluate` works on `CameraState.copy()`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Self, TypeVar

from vigie.detect.v1.detection_pb2 import ObjectsDetected

from vigie_rules.domain.signal_timeline import SignalTimeline

STATE_VERSION = 1
"""Fields are only added, with defaults, so a state written by an older engine still loads."""

Point = tuple[float, float]
Box = tuple[float, float, float, float]


def _point(value: Any) -> Point | None:
    return None if value is None else (float(value[0]), float(value[1]))


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(slots=True)
class TrackState:
    """What one rule remembers about one track. Fields unused by a kind stay at their default."""

    last_seen_ms: int
    class_name: str = ""
    last_pos: Point | None = None
    # First event time of the current uninterrupted presence in the zone.
    zone_since_ms: int | None = None
    # Stationarity: where the object settled and when that point was set (displacement is
    # measured from here; the stop itself starts at cond_since_ms).
    # Line crossing: the last position seen beyond the margin on the confirmed side.
    anchor: Point | None = None
    anchor_since_ms: int | None = None
    # Consecutive frames seen beyond the stillness threshold from the anchor.
    away: int = 0
    # Start of the current episode of the kind's condition (lying, unattended, wrong way...).
    cond_since_ms: int | None = None
    # Episode (its start time) for which an alert was raised, and when the last alert fired.
    alerted_episode_ms: int | None = None
    last_alert_ms: int | None = None
    # Line crossing: side of the line confirmed beyond the margin (-1, +1; 0 = not yet).
    side: int = 0
    # Wrong way: recent (t_ms, x, y) positions, about one second of event time.
    history: list[tuple[int, float, float]] = field(default_factory=list)
    # Weapon: consecutive frames of this track with a qualifying detection.
    run: int = 0
    # Illegal dumping: the stopped vehicle (track id, class) this object appeared next to.
    partner: int = 0
    partner_class: str = ""
    # Re-linking (`relink`): the earlier track ids of this object whose story this track goes
    # on with, oldest first, each with the event time its successor took over (an episode
    # that started before that time is that track's: its alert id names it).
    fragments: list[tuple[int, int]] = field(default_factory=list)
    # Line crossing: the confirmed side was reached by crossing the segment (not by first
    # sight, nor around its end)...
    crossed: bool = False
    # ...and, re-linked after such a crossing, the other side is not taken before this event
    # time unless the track is seen back on its side first (a box cut by the occluder).
    hold_side_until_ms: int | None = None

    def copy(self) -> TrackState:
        return TrackState(self.last_seen_ms, self.class_name, self.last_pos, self.zone_since_ms,
                          self.anchor, self.anchor_since_ms, self.away, self.cond_since_ms,
                          self.alerted_episode_ms, self.last_alert_ms, self.side,
                          list(self.history), self.run, self.partner, self.partner_class,
                          list(self.fragments), self.crossed, self.hold_side_until_ms)

    def episode_track(self, track_id: int, episode_ms: int) -> int:
        """The track id an episode starting at `episode_ms` belongs to (alert ids name it): the
        earlier fragment that was seen then, or `track_id`, the track this state is now."""
        for earlier, until_ms in self.fragments:
            if episode_ms < until_ms:
                return earlier
        return track_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "last_seen_ms": self.last_seen_ms, "class_name": self.class_name,
            "last_pos": None if self.last_pos is None else list(self.last_pos),
            "zone_since_ms": self.zone_since_ms,
            "anchor": None if self.anchor is None else list(self.anchor),
            "anchor_since_ms": self.anchor_since_ms, "away": self.away,
            "cond_since_ms": self.cond_since_ms,
            "alerted_episode_ms": self.alerted_episode_ms, "last_alert_ms": self.last_alert_ms,
            "side": self.side,
            "history": [list(h) for h in self.history], "run": self.run,
            "partner": self.partner, "partner_class": self.partner_class,
            "fragments": [list(f) for f in self.fragments], "crossed": self.crossed,
            "hold_side_until_ms": self.hold_side_until_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackState:
        return cls(
            last_seen_ms=int(data["last_seen_ms"]), class_name=str(data.get("class_name", "")),
            last_pos=_point(data.get("last_pos")),
            zone_since_ms=_opt_int(data.get("zone_since_ms")),
            anchor=_point(data.get("anchor")),
            anchor_since_ms=_opt_int(data.get("anchor_since_ms")),
            away=int(data.get("away", 0)),
            cond_since_ms=_opt_int(data.get("cond_since_ms")),
            alerted_episode_ms=_opt_int(data.get("alerted_episode_ms")),
            last_alert_ms=_opt_int(data.get("last_alert_ms")),
            side=int(data.get("side", 0)),
            history=[(int(t), float(x), float(y)) for t, x, y in data.get("history", [])],
            run=int(data.get("run", 0)),
            partner=int(data.get("partner", 0)),
            partner_class=str(data.get("partner_class", "")),
            fragments=[(int(k), int(t)) for k, t in data.get("fragments", [])],
            crossed=bool(data.get("crossed", False)),
            hold_side_until_ms=_opt_int(data.get("hold_side_until_ms")),
        )


@dataclass(slots=True)
class SeenTrack:
    """What the camera remembers of a track, whatever the rules (see `relink`): where and when
    it was last seen, how it was moving, and its links to other tracks of the same object."""

    last_seen_ms: int
    class_name: str
    pos: Point  # reference point (bottom centre of the box), normalised
    height: float  # box height, normalised
    velocity: Point = (0.0, 0.0)  # smoothed, normalised units per second
    # The lost track this one took over (0: none), and whether a later track took this one
    # over (a lost track is re-linked at most once).
    continues: int = 0
    taken: bool = False

    def copy(self) -> SeenTrack:
        return SeenTrack(self.last_seen_ms, self.class_name, self.pos, self.height,
                         self.velocity, self.continues, self.taken)

    def to_dict(self) -> dict[str, Any]:
        return {"last_seen_ms": self.last_seen_ms, "class_name": self.class_name,
                "pos": list(self.pos), "height": self.height, "velocity": list(self.velocity),
                "continues": self.continues, "taken": self.taken}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeenTrack:
        x, y = data["pos"]
        vx, vy = data.get("velocity") or (0.0, 0.0)
        return cls(last_seen_ms=int(data["last_seen_ms"]), class_name=str(data["class_name"]),
                   pos=(float(x), float(y)), height=float(data["height"]),
                   velocity=(float(vx), float(vy)),
                   continues=int(data.get("continues", 0)), taken=bool(data.get("taken", False)))


class KindMemory(Protocol):
    """What a rule kind remembers beyond tracks and rule-level episodes (its file declares it as
    `Kind.memory`). JSON-safe through to_dict/from_dict; `from_dict({})` is a fresh memory."""

    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self: ...

    def copy(self) -> Self: ...

    def pause(self) -> None:
        """The rule is inactive on a frame: forget what must not outlive a pause."""


M = TypeVar("M", bound=KindMemory)


@dataclass(slots=True, eq=False)
class RuleState:
    """What one rule remembers on one camera: its tracks, its rule-level episode, the event-time
    counting window currently open, and its kind's own memory.

    The kind's memory is serialised flat into the rule's dict (its empty fields left out), and
    read back lazily by `memory_of` (the state does not know its kind; the engine does). Two
    states are equal when they serialise the same."""

    fingerprint: str
    tracks: dict[int, TrackState] = field(default_factory=dict)
    window_start_ms: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # Rule-level episodes (crowd density, untracked weapon, counts threshold).
    cond_since_ms: int | None = None
    alerted_episode_ms: int | None = None
    last_alert_ms: int | None = None
    # The kind's memory; a plain dict while not yet read back after from_dict.
    memory: KindMemory | dict[str, Any] | None = None

    def memory_of(self, kind_memory: type[M]) -> M:
        """The kind's memory, read back (or started) as `kind_memory`."""
        if not isinstance(self.memory, kind_memory):
            raw = self.memory if isinstance(self.memory, dict) else {}
            self.memory = kind_memory.from_dict(raw)
        return self.memory

    def copy(self) -> RuleState:
        memory = self.memory
        return RuleState(self.fingerprint, {k: v.copy() for k, v in self.tracks.items()},
                         self.window_start_ms, dict(self.counts), self.cond_since_ms,
                         self.alerted_episode_ms, self.last_alert_ms,
                         dict(memory) if isinstance(memory, dict)
                         else None if memory is None else memory.copy())

    def to_dict(self) -> dict[str, Any]:
        memory = self.memory if isinstance(self.memory, dict | None) else self.memory.to_dict()
        return {
            "fingerprint": self.fingerprint,
            "tracks": {str(k): v.to_dict() for k, v in sorted(self.tracks.items())},
            "window_start_ms": self.window_start_ms, "counts": dict(sorted(self.counts.items())),
            "cond_since_ms": self.cond_since_ms, "alerted_episode_ms": self.alerted_episode_ms,
            "last_alert_ms": self.last_alert_ms,
            **{k: v for k, v in (memory or {}).items() if v},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleState:
        memory = {k: v for k, v in data.items() if k not in _RULE_KEYS and v}
        return cls(
            fingerprint=str(data["fingerprint"]),
            tracks={int(k): TrackState.from_dict(v) for k, v in data.get("tracks", {}).items()},
            window_start_ms=_opt_int(data.get("window_start_ms")),
            counts={str(k): int(v) for k, v in data.get("counts", {}).items()},
            cond_since_ms=_opt_int(data.get("cond_since_ms")),
            alerted_episode_ms=_opt_int(data.get("alerted_episode_ms")),
            last_alert_ms=_opt_int(data.get("last_alert_ms")),
            memory=memory or None,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RuleState) and self.to_dict() == other.to_dict()


_RULE_KEYS = frozenset({"fingerprint", "tracks", "window_start_ms", "counts", "cond_since_ms",
                        "alerted_episode_ms", "last_alert_ms"})


@dataclass(slots=True)
class CameraState:
    """Everything the engine remembers about one camera.

    Frames wait in `pending` (a small reorder buffer, sorted by event time) until the newest
    event time seen is `tolerance` ahead of them; `released_ms` is the event time of the last frame
    applied to the rule states. A frame older than `released_ms` is late: ignored, and counted.
    """

    camera_id: str = ""
    max_seen_ms: int | None = None
    released_ms: int | None = None
    pending: list[ObjectsDetected] = field(default_factory=list)
    rules: dict[str, RuleState] = field(default_factory=dict)
    # Camera-level counting window (rule_id ""): frames applied, late frames ignored.
    window_start_ms: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # Red light: the timeline of each signal the camera's red-light rules use, by signal id.
    signals: dict[str, SignalTimeline] = field(default_factory=dict)
    # Re-linking: the tracks seen within the track ttl, by track id (`relink.observe`).
    seen: dict[int, SeenTrack] = field(default_factory=dict)

    def copy(self) -> CameraState:
        # Pending frames are never mutated by the engine: sharing them is safe.
        return CameraState(self.camera_id, self.max_seen_ms, self.released_ms, list(self.pending),
                           {k: v.copy() for k, v in self.rules.items()}, self.window_start_ms,
                           dict(self.counts), {k: v.copy() for k, v in self.signals.items()},
                           {k: v.copy() for k, v in self.seen.items()})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (pending frames as base64 protobuf); from_dict(to_dict()) is equal."""
        return {
            "version": STATE_VERSION, "camera_id": self.camera_id,
            "max_seen_ms": self.max_seen_ms, "released_ms": self.released_ms,
            "pending": [base64.b64encode(f.SerializeToString(deterministic=True)).decode("ascii")
                        for f in self.pending],
            "rules": {k: v.to_dict() for k, v in sorted(self.rules.items())},
            "window_start_ms": self.window_start_ms, "counts": dict(sorted(self.counts.items())),
            "signals": {k: v.to_dict() for k, v in sorted(self.signals.items())},
            "seen": {str(k): v.to_dict() for k, v in sorted(self.seen.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraState:
        version = int(data.get("version", STATE_VERSION))
        if version != STATE_VERSION:
            raise ValueError(f"unsupported camera state version {version} "
                             f"(this engine reads {STATE_VERSION})")
        pending = []
        for encoded in data.get("pending", []):
            frame = ObjectsDetected()
            frame.ParseFromString(base64.b64decode(encoded))
            pending.append(frame)
        return cls(
            camera_id=str(data.get("camera_id", "")),
            max_seen_ms=_opt_int(data.get("max_seen_ms")),
            released_ms=_opt_int(data.get("released_ms")),
            pending=pending,
            rules={str(k): RuleState.from_dict(v) for k, v in data.get("rules", {}).items()},
            window_start_ms=_opt_int(data.get("window_start_ms")),
            counts={str(k): int(v) for k, v in data.get("counts", {}).items()},
            signals={str(k): SignalTimeline.from_dict(v)
                     for k, v in data.get("signals", {}).items()},
            seen={int(k): SeenTrack.from_dict(v) for k, v in data.get("seen", {}).items()},
        )

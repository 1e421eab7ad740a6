"""The topic registry: every Kafka topic Vigie uses, with its contract and its retention.

One place names a topic, the protobuf message it carries, what its key means, how many partitions it
has and how long Kafka keeps it. Topic creation, Strimzi manifests, the codec and the DLQ all read
from here, so a topic cannot be misspelt in one service and right in another.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from google.protobuf.message import Message
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.alerts.v1.decision_pb2 import AlertDecided
from vigie.audit.v1.audit_pb2 import AuditRecorded
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged
from vigie.camera.v1.camera_pb2 import Camera
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.detect.v1.tracker_pb2 import TrackerCheckpointed
from vigie.face.v1.face_match_pb2 import FaceMatched
from vigie.face.v1.watchlist_pb2 import WatchlistEntry
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.ingest.v1.report_pb2 import ReportReceived
from vigie.rules.v1.rule_pb2 import Rule
from vigie.rules.v1.signal_pb2 import SignalObserved
from vigie.stats.v1.stats_pb2 import CountsAggregated

DLQ_SUFFIX = ".dlq"


class Cleanup(StrEnum):
    """Kafka's cleanup.policy: delete old segments, or keep the latest value per key."""

    DELETE = "delete"
    COMPACT = "compact"


@dataclass(frozen=True)
class Topic:
    """A topic's contract. `retention=None` keeps records forever (compacted state topics)."""

    name: str
    message_type: type[Message]
    key: str
    description: str
    partitions: int = 6
    cleanup: Cleanup = Cleanup.DELETE
    retention: timedelta | None = timedelta(days=7)
    # Further topic-level Kafka configs, e.g. (("segment.ms", "600000"),) so that a compacted
    # topic written often is compacted soon.
    extra_config: tuple[tuple[str, str], ...] = ()

    @property
    def type_name(self) -> str:
        """The protobuf full name, which is also the CloudEvents `type` of its records."""
        return str(self.message_type.DESCRIPTOR.full_name)

    @property
    def dlq(self) -> str:
        """Where undecodable or poison records of this topic go, with the error in headers."""
        return self.name + DLQ_SUFFIX

    def kafka_config(self) -> dict[str, str]:
        """Topic-level Kafka configuration derived from the contract."""
        config = {"cleanup.policy": str(self.cleanup)}
        if self.retention is None:
            config["retention.ms"] = "-1"
        else:
            config["retention.ms"] = str(int(self.retention.total_seconds() * 1000))
        if self.cleanup is Cleanup.COMPACT:
            # Tombstones (erasures) disappear a day after compaction has applied them.
            config["delete.retention.ms"] = str(int(timedelta(days=1).total_seconds() * 1000))
        config.update(self.extra_config)
        return config


DLQ_RETENTION = timedelta(days=14)
AUDIT_RETENTION_FLOOR = timedelta(days=183)
"""The audit trail is kept at least six months (DESIGN invariant 4, issue 9): the registry refuses
a shorter retention for the audit topic, and `vigie topics check|create` a topic configured
shorter on the broker."""

CAMERAS = Topic(
    "vigie.cameras.v1", Camera, "camera_id",
    "Camera configuration: source, geo, sampling, purposes, authorisation window, retention.",
    partitions=3, cleanup=Cleanup.COMPACT, retention=None,
)
RULES = Topic(
    "vigie.rules.v1", Rule, "rule_id",
    "Rule specifications drawn by operators or applied as YAML.",
    partitions=3, cleanup=Cleanup.COMPACT, retention=None,
)
WATCHLIST = Topic(
    "vigie.watchlist.v1", WatchlistEntry, "subject_id",
    "Watchlist entries with consent record and encrypted template; a tombstone erases.",
    partitions=1, cleanup=Cleanup.COMPACT, retention=None,
)
FRAMES = Topic(
    "vigie.frames.v1", FrameSampled, "camera_id",
    "Sampled, downscaled, motion-gated JPEG frames with timestamps.",
    partitions=12, retention=timedelta(hours=1),
)
DETECTIONS = Topic(
    "vigie.detections.v1", ObjectsDetected, "camera_id",
    "Per-frame detections with track ids and model id.",
    partitions=12, retention=timedelta(days=1),
)
SIGNALS = Topic(
    "vigie.signals.v1", SignalObserved, "camera_id",
    "Traffic-signal states for red-light rules: the colour of a rule's signal region on a frame, "
    "or an external controller feed. Partitioned like detections (co-partitioned joins).",
    partitions=12, retention=timedelta(days=7),
)
TRACKER_STATE = Topic(
    "vigie.tracker-state.v1", TrackerCheckpointed, "camera_id",
    "Detect's per-camera ByteTrack state after the last tracked frame (internal): a restarted "
    "or re-assigned replica goes on with the same track ids. Co-partitioned with frames.",
    partitions=12, cleanup=Cleanup.COMPACT, retention=None,
    # Written after every analysed frame: roll segments often so compaction keeps it small.
    extra_config=(("segment.ms", str(10 * 60 * 1000)), ("min.cleanable.dirty.ratio", "0.1")),
)
FACES = Topic(
    "vigie.faces.v1", FaceMatched, "camera_id",
    "Face-watchlist matches only: never embeddings, never non-matches.",
    retention=timedelta(days=7),
)
REPORTS = Topic(
    "vigie.reports.v1", ReportReceived, "report_id",
    "Citizen reports: geolocation, media reference, text.",
    retention=timedelta(days=30),
)
ALERTS = Topic(
    "vigie.alerts.v1", AlertRaised, "camera_id",
    "Attention signals with deterministic alert_id, evidence references and geo.",
    retention=timedelta(days=400),
)
ALERT_DECISIONS = Topic(
    "vigie.alert-decisions.v1", AlertDecided, "alert_id",
    "Operator decisions on alerts: who, when, what, why.",
    retention=timedelta(days=400),
)
STATS = Topic(
    "vigie.stats.v1", CountsAggregated, "camera_id",
    "Windowed counts per camera and rule (lines, zones, classes).",
    retention=timedelta(days=400),
)
CAMERA_HEALTH = Topic(
    "vigie.camera-health.v1", CameraHealthChanged, "camera_id",
    "Camera source state changes: up, stalled, reconnecting, failed.",
    partitions=3, retention=timedelta(days=7),
)
AUDIT = Topic(
    "vigie.audit.v1", AuditRecorded, "chain",
    "Hash-chained audit records; one partition keeps the chain in order.",
    partitions=1, retention=timedelta(days=400),
)


class TopicRegistry:
    """Look-up of topics by name; iteration yields them in declaration order."""

    def __init__(self, topics: list[Topic]) -> None:
        self._by_name = {t.name: t for t in topics}
        if len(self._by_name) != len(topics):
            raise ValueError("duplicate topic name in registry")
        for topic in topics:
            if topic.type_name == AuditRecorded.DESCRIPTOR.full_name:
                check_audit_retention(topic.retention)

    def __iter__(self) -> Iterator[Topic]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Topic:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown topic {name!r}; known: {', '.join(self._by_name)}") from None

    def by_type(self, type_name: str) -> list[Topic]:
        return [t for t in self if t.type_name == type_name]


def check_audit_retention(retention: timedelta | None) -> None:
    """Raise ValueError if `retention` (None: forever) is shorter than the audit floor."""
    if retention is not None and retention < AUDIT_RETENTION_FLOOR:
        raise ValueError(f"the audit topic must be kept at least {AUDIT_RETENTION_FLOOR.days} "
                         f"days, not {retention}")


def retention_ms_problem(topic: Topic, retention_ms: int) -> str:
    """Why a broker-side retention.ms is not acceptable for `topic` (empty when it is): only the
    audit floor is a hard rule; other differences are drift, which `vigie topics create` fixes."""
    if topic.type_name != AuditRecorded.DESCRIPTOR.full_name:
        return ""
    if retention_ms < 0:
        return ""
    if retention_ms < AUDIT_RETENTION_FLOOR.total_seconds() * 1000:
        return (f"{topic.name} keeps records {retention_ms / 86_400_000:g} days, below the "
                f"{AUDIT_RETENTION_FLOOR.days}-day audit floor")
    return ""


REGISTRY = TopicRegistry([
    CAMERAS, RULES, WATCHLIST, FRAMES, DETECTIONS, SIGNALS, TRACKER_STATE, FACES, REPORTS,
    ALERTS, ALERT_DECISIONS, STATS, CAMERA_HEALTH, AUDIT,
])

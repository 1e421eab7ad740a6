#!/usr/bin/env python3
"""Golden samples of every Vigie topic value, for wire-format stability tests.

``samples()`` returns one fully populated, realistic message per top-level event/value type,
keyed by full message name, built from fixed values only (no clock, no randomness). Every field,
including those of nested messages, is set, so that adding a field without a golden value fails
libs/proto/tests/test_golden.py. Where one kind of rule or alert would not use every field, the
sample still sets it: these are wire samples, not domain examples.

Running the script (re)writes, next to it, for each sample:
    <FullMessageName>.binpb   SerializeToString(deterministic=True)
    <FullMessageName>.json    json_format.MessageToJson(sort_keys=True, indent=2)
Regenerate only for an intended, additive contract change, and commit the diff with it.
"""

# ruff: noqa: E402  (imports follow the sys.path fallback below)
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent
_PROTO_SRC = GOLDEN_DIR.parent.parent / "libs" / "proto" / "src"
try:  # the vigie-proto distribution when installed, else the generated tree of this checkout
    import vigie.common.v1.common_pb2  # noqa: F401
except ImportError:
    sys.path.insert(0, str(_PROTO_SRC))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.alerts.v1.decision_pb2 import AlertDecided, AlertDecision
from vigie.audit.v1.audit_pb2 import AuditAction, AuditRecorded
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged, CameraState, ViewProblem
from vigie.camera.v1.camera_pb2 import (
    Camera,
    FaceAuthorisation,
    Purpose,
    SlicingMode,
    SourceKind,
)
from vigie.common.v1.common_pb2 import BoundingBox, EvidenceRef, GeoPoint, Point, TimeWindow
from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected
from vigie.detect.v1.tracker_pb2 import (
    RemovedTrack,
    TrackClassEvidence,
    TrackerCheckpointed,
    TrackIdAlias,
    TrackIdentity,
    TrackPool,
    TrackSnapshot,
    TrackState,
)
from vigie.face.v1.face_match_pb2 import FaceMatched
from vigie.face.v1.watchlist_pb2 import (
    ConsentRecord,
    LegalBasis,
    WatchlistCategory,
    WatchlistEntry,
)
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.ingest.v1.report_pb2 import ReportChannel, ReportReceived
from vigie.rules.v1.rule_pb2 import (
    ActiveWindow,
    Direction,
    Line,
    Rule,
    RuleGeometry,
    RuleKind,
    RuleSchedule,
    RuleThresholds,
    Severity,
    Weekday,
)
from vigie.rules.v1.signal_pb2 import SignalObserved, SignalSource, SignalState
from vigie.stats.v1.stats_pb2 import Count, CountsAggregated

# A minimal JFIF header + end-of-image marker: stands in for a frame's JPEG bytes.
JPEG_STUB = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xdb\x00\x43\x00\x08\x06\x06\x07\x06\x05\x08\x07\x07\x07\x09\x09"
    b"\xff\xd9"
)


def ts(rfc3339: str) -> Timestamp:
    t = Timestamp()
    t.FromJsonString(rfc3339)
    return t


def dur(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(round(seconds * 1e9))
    return d


def sha256_hex(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


BELLECOUR = GeoPoint(lat_deg=45.757814, lon_deg=4.832011, accuracy_m=3.5)


def evidence(name: str, media_type: str, size: int, at: str) -> EvidenceRef:
    return EvidenceRef(
        uri=f"s3://vigie-evidence/{name}",
        sha256=sha256_hex(name),
        media_type=media_type,
        size_bytes=size,
        captured_at=ts(at),
    )


def camera() -> Camera:
    return Camera(
        camera_id="cam-bellecour-01",
        name="Place Bellecour - statue Louis XIV",
        source_url="rtsp://10.20.4.17:554/Streaming/Channels/101",
        source_kind=SourceKind.SOURCE_KIND_RTSP,
        geo=BELLECOUR,
        sample_fps=5.0,
        analysis_max_width=960,
        analysis_max_height=540,
        purposes=[
            Purpose.PURPOSE_OBJECTS,
            Purpose.PURPOSE_CROWD,
            Purpose.PURPOSE_FACE_MATCHING,
        ],
        face_authorisation=FaceAuthorisation(
            window=TimeWindow(start=ts("2025-06-14T18:00:00Z"), end=ts("2025-06-15T02:00:00Z")),
            reference="ARRETE-PREF-69-2025-0614",
        ),
        evidence_retention=dur(30 * 86400),
        frame_retention=dur(3600),
        enabled=True,
        labels={"district": "2e", "site": "bellecour", "operator_desk": "csu-north"},
        updated_at=ts("2025-06-14T17:42:10Z"),
        updated_by="op.martin",
        credentials_ref="secret/cameras/bellecour-01",
        view_accepted_at=ts("2025-06-14T18:05:00Z"),
        slicing_mode=SlicingMode.SLICING_MODE_FAR_FIELD,
        far_field_regions=[BoundingBox(x_min=0.35, y_min=0.05, x_max=1.0, y_max=0.3)],
    )


def camera_health() -> CameraHealthChanged:
    return CameraHealthChanged(
        camera_id="cam-bellecour-01",
        state=CameraState.CAMERA_STATE_RECONNECTING,
        reason="no frame for 10s (read timeout)",
        attempt=3,
        next_retry_in=dur(8),
        observed_at=ts("2025-06-14T21:36:58.120Z"),
        frames_total=184_322,
        previous_state=CameraState.CAMERA_STATE_STALLED,
        # (one sample for the wire: ingest reports the source, detect the picture)
        reporter="detect",
        view_problem=ViewProblem.VIEW_PROBLEM_COVERED,
        previous_view_problem=ViewProblem.VIEW_PROBLEM_DEFOCUSED,
        problem_since=ts("2025-06-14T21:36:56.600Z"),
        frame_id="cam-bellecour-01:48190",
        reference_jpeg=b"\xff\xd8\xff\xe0 reference view \xff\xd9",
        current_jpeg=b"\xff\xd8\xff\xe0 covered view \xff\xd9",
    )


def frame() -> FrameSampled:
    return FrameSampled(
        frame_id="cam-bellecour-01:48213",
        camera_id="cam-bellecour-01",
        sequence=48213,
        captured_at=ts("2025-06-14T21:37:05.200Z"),
        pts_s=9642.6,
        ingested_at=ts("2025-06-14T21:37:05.268Z"),
        width=960,
        height=540,
        jpeg=JPEG_STUB,
        motion_score=0.137,
        source_kind=SourceKind.SOURCE_KIND_RTSP,
        geo=BELLECOUR,
        report_id="rep-20250614-0007",
        evidence=evidence(
            "cam-bellecour-01/2025/06/14/48213.jpg",
            "image/jpeg",
            412_877,
            "2025-06-14T21:37:05.200Z",
        ),
    )


def report() -> ReportReceived:
    return ReportReceived(
        report_id="rep-20250614-0007",
        received_at=ts("2025-06-14T21:36:40Z"),
        geo=GeoPoint(lat_deg=45.758102, lon_deg=4.833460, accuracy_m=12.0),
        text="Un homme est tombé près de la statue, il ne bouge plus",
        media=evidence(
            "reports/rep-20250614-0007.mp4", "video/mp4", 7_340_032, "2025-06-14T21:36:12Z"
        ),
        channel=ReportChannel.REPORT_CHANNEL_UPLOAD,
        nearest_camera_id="cam-bellecour-01",
        reporter="ctz-5b1f0e9a",
    )


def objects_detected() -> ObjectsDetected:
    return ObjectsDetected(
        frame_id="cam-bellecour-01:48213",
        camera_id="cam-bellecour-01",
        captured_at=ts("2025-06-14T21:37:05.200Z"),
        model_id="yolov3-tiny-coco@sha256:" + sha256_hex("yolov3-tiny.weights")[:16],
        inference_time=dur(0.0234),
        image_width=960,
        image_height=540,
        detections=[
            Detection(
                box=BoundingBox(x_min=0.412, y_min=0.503, x_max=0.455, y_max=0.781),
                confidence=0.91,
                class_id=0,  # COCO "person"; the "car" below covers class_id on the wire
                class_name="person",
                track_id=1207,
            ),
            Detection(
                box=BoundingBox(x_min=0.603, y_min=0.612, x_max=0.742, y_max=0.720),
                confidence=0.78,
                class_id=2,
                class_name="car",
                track_id=1189,
            ),
            Detection(  # detect's scene stage: a still region, whatever it is
                box=BoundingBox(x_min=0.203, y_min=0.679, x_max=0.287, y_max=0.762),
                confidence=0.93,
                class_id=-1,
                class_name="static_object",
                track_id=(1 << 40) + 9,
                appeared_at=ts("2025-06-14T21:36:55.000Z"),
            ),
        ],
    )


def tracker_checkpointed() -> TrackerCheckpointed:
    return TrackerCheckpointed(
        camera_id="cam-bellecour-01",
        frame_id="cam-bellecour-01:48213",
        captured_at=ts("2025-06-14T21:37:05.200Z"),
        model_id="yolov3-tiny@dccea06f59b7",
        tracker_params='{"appearance_max_distance":0.4,"fuse_score":false,"match_thresh":0.8,'
                       '"relink_max_distance":2.0,"relink_s":3.0,"track_buffer":30,'
                       '"track_high_thresh":0.25,"track_low_thresh":0.25,'
                       '"new_track_thresh":0.25,"tracker":"botsort"}',
        tracker_frames=48213,
        next_track_id=1208,
        tracks=[
            TrackSnapshot(
                track_id=1207,
                state=TrackState.TRACK_STATE_TRACKED,
                pool=TrackPool.TRACK_POOL_TRACKED,
                activated=True,
                score=0.91,
                class_id=2.0,  # COCO car
                detection_index=1,
                start_frame=48100,
                frame=48213,
                tracklet_len=113,
                tlwh=[395.5, 271.6, 41.3, 150.1],
                mean=[416.1, 346.7, 41.3, 150.1, 1.5, 0.25, 0.0, 0.0],
                covariance=[float(i == j) * 4.0 for i in range(8) for j in range(8)],
                current_feature=[0.5, 0.5, 0.5, 0.5],
                smooth_feature=[0.25, 0.75, 0.5, 0.35],
            ),
        ],
        removed_count=3,
        removed=[RemovedTrack(position=2, track_id=1189)],
        frame_rate=5.0,
        analysed_at=ts("2025-06-14T21:37:05.200Z"),
        identities=[
            TrackIdentity(
                track_id=1190,
                raw_track_id=1207,
                class_id=2,
                last_seen_s=1749937025.2,
                box=[395.5, 271.6, 436.8, 421.7],
                velocity=[7.5, 1.25],
                appearance=[0.5, 0.25, 0.25, 0.0],
                observations=113,
            ),
        ],
        aliases=[TrackIdAlias(raw_track_id=1207, track_id=1190)],
        newest_raw_track_id=1207,
        tracker_time_s=1749937025.2,
        class_evidence=[TrackClassEvidence(track_id=1190, last_seen_s=1749937025.2,
                                           class_ids=[0, 3], confidence_sums=[41.5, 12.25])],
    )


def watchlist_entry() -> WatchlistEntry:
    return WatchlistEntry(
        subject_id="subj-7c2e41d9",
        display_name="Volontaire essai n°3",
        category=WatchlistCategory.WATCHLIST_CATEGORY_VOLUNTEER,
        consent=ConsentRecord(
            legal_basis=LegalBasis.LEGAL_BASIS_CONSENT,
            reference="CONSENT-2025-0031",
            enrolled_by="op.durand",
            enrolled_at=ts("2025-06-10T09:15:00Z"),
            expires_at=ts("2025-09-10T09:15:00Z"),
        ),
        # Stands in for AES-GCM nonce || ciphertext || tag; not a real template.
        encrypted_template=hashlib.sha256(b"nonce").digest()[:12]
        + hashlib.sha512(b"template").digest()
        + hashlib.sha256(b"tag").digest()[:16],
        key_id="kms/watchlist/subj-7c2e41d9/v1",
        template_model_id="sface-2021dec-int8bq@sha256:" + sha256_hex("sface")[:16],
        camera_ids=["cam-bellecour-01", "cam-bellecour-02"],
    )


def face_matched() -> FaceMatched:
    return FaceMatched(
        match_id="fm-" + sha256_hex("cam-bellecour-01:48213/subj-7c2e41d9")[:24],
        frame_id="cam-bellecour-01:48213",
        camera_id="cam-bellecour-01",
        captured_at=ts("2025-06-14T21:37:05.200Z"),
        subject_id="subj-7c2e41d9",
        category=WatchlistCategory.WATCHLIST_CATEGORY_VOLUNTEER,
        score=0.512,
        threshold=0.363,
        face_box=BoundingBox(x_min=0.421, y_min=0.508, x_max=0.437, y_max=0.541),
        model_id="yunet-2023mar+sface-2021dec-int8bq",
    )


def rule() -> Rule:
    return Rule(
        rule_id="rule-bellecour-redlight-01",
        name="Feu rouge - rue de la Barre vers Bellecour",
        camera_id="cam-bellecour-01",
        kind=RuleKind.RULE_KIND_RED_LIGHT,
        geometry=RuleGeometry(
            zone=[
                Point(x=0.10, y=0.55),
                Point(x=0.60, y=0.55),
                Point(x=0.70, y=0.95),
                Point(x=0.05, y=0.95),
            ],
            line=Line(start=Point(x=0.12, y=0.60), end=Point(x=0.58, y=0.60)),
            direction=Direction(dx=0.05, dy=-1.0),
            signal_region=BoundingBox(x_min=0.81, y_min=0.12, x_max=0.84, y_max=0.19),
            geo_centre=BELLECOUR,
        ),
        class_names=["car", "truck", "bus", "motorcycle"],
        thresholds=RuleThresholds(
            min_confidence=0.45,
            max_dwell=dur(120),
            max_stop=dur(300),
            min_count=3,
            tolerance_deg=30.0,
            min_speed_per_s=0.25,
            min_match_score=0.4,
            cooldown=dur(60),
            max_distance_m=150.0,
        ),
        schedule=RuleSchedule(
            time_zone="Europe/Paris",
            windows=[
                ActiveWindow(
                    days=[
                        Weekday.WEEKDAY_FRIDAY,
                        Weekday.WEEKDAY_SATURDAY,
                    ],
                    start_minute=20 * 60,
                    end_minute=4 * 60,
                )
            ],
            valid_from=ts("2025-06-14T18:00:00Z"),
            valid_until=ts("2025-06-14T20:00:00Z"),
        ),
        severity=Severity.SEVERITY_MEDIUM,
        enabled=True,
        created_by="op.martin",
        updated_at=ts("2025-06-14T17:58:31Z"),
        signal_id="ctrl-lyon-c2-barre/sg-3",
        kind_name="red_light",
    )


def signal_observed() -> SignalObserved:
    return SignalObserved(
        camera_id="cam-bellecour-01",
        signal_id="rule-bellecour-redlight-01",
        state=SignalState.SIGNAL_STATE_RED,
        observed_at=ts("2025-06-14T21:37:05.200Z"),
        source=SignalSource.SIGNAL_SOURCE_COLOUR,
        frame_id="cam-bellecour-01:48213",
    )


def alert_raised() -> AlertRaised:
    return AlertRaised(
        alert_id="al-" + sha256_hex("rule-bellecour-watchlist-01|cam-bellecour-01|1207|1")[:24],
        rule_id="rule-bellecour-watchlist-01",
        rule_kind=RuleKind.RULE_KIND_FACE_MATCH,
        camera_id="cam-bellecour-01",
        severity=Severity.SEVERITY_HIGH,
        title="Correspondance liste de surveillance - Place Bellecour",
        started_at=ts("2025-06-14T21:36:59.800Z"),
        raised_at=ts("2025-06-14T21:37:05.200Z"),
        track_ids=[1207, 1212],
        geo=BELLECOUR,
        snapshot=evidence(
            "alerts/cam-bellecour-01/48213-blurred.jpg",
            "image/jpeg",
            188_406,
            "2025-06-14T21:37:05.200Z",
        ),
        clip=evidence(
            "alerts/cam-bellecour-01/48213.mp4",
            "video/mp4",
            2_621_440,
            "2025-06-14T21:36:55.200Z",
        ),
        boxes=[
            BoundingBox(x_min=0.412, y_min=0.503, x_max=0.455, y_max=0.781),
            BoundingBox(x_min=0.421, y_min=0.508, x_max=0.437, y_max=0.541),
        ],
        subject_id="subj-7c2e41d9",
        requires_confirmations=2,
        attributes={"score": "0.512", "threshold": "0.363", "match_id": face_matched().match_id},
        frame_id="cam-bellecour-01:48213",
        involves_persons=True,
        rule_kind_name="face_match",
    )


def alert_decided() -> AlertDecided:
    return AlertDecided(
        decision_id="dec-20250614-000318",
        alert_id=alert_raised().alert_id,
        operator="op.durand",
        role="supervisor",
        decision=AlertDecision.ALERT_DECISION_CONFIRMED,
        reason="Visage comparé à la photo d'enrôlement : même personne",
        decided_at=ts("2025-06-14T21:37:41.503Z"),
    )


def counts_aggregated() -> CountsAggregated:
    return CountsAggregated(
        camera_id="cam-bellecour-01",
        rule_id="rule-bellecour-line-02",
        window=TimeWindow(start=ts("2025-06-14T21:30:00Z"), end=ts("2025-06-14T21:35:00Z")),
        counts=[
            Count(key="person/in", value=212),
            Count(key="person/out", value=187),
            Count(key="bicycle/in", value=9),
        ],
        emitted_at=ts("2025-06-14T21:35:02.004Z"),
    )


GOLDEN_AUDIT_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"vigie golden").digest())
"""A fixed signing key, so the signed golden record is the same on every run."""


def audit_recorded() -> AuditRecorded:
    record = AuditRecorded(
        sequence=4211,
        event_id=face_matched().match_id,
        occurred_at=ts("2025-06-14T21:37:05.311Z"),
        actor="service:face",
        action=AuditAction.AUDIT_ACTION_MATCH,
        subject_ref="subject:subj-7c2e41d9",
        details={
            "camera_id": "cam-bellecour-01",
            "frame_id": "cam-bellecour-01:48213",
            "score": "0.512",
        },
        prev_hash=hashlib.sha256(b"audit record 4210").digest(),
        chain="face/0",
        public_key=GOLDEN_AUDIT_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
    )
    # The documented chain rule: SHA-256 of the deterministic serialisation with `hash` and
    # `signature` unset; the writer's Ed25519 signature is over that hash (deterministic).
    record.hash = hashlib.sha256(record.SerializeToString(deterministic=True)).digest()
    record.signature = GOLDEN_AUDIT_KEY.sign(record.hash)
    return record


def samples() -> dict[str, Message]:
    """One fully populated sample per top-level event/value message, keyed by full name."""
    built = [
        camera(),
        camera_health(),
        frame(),
        report(),
        objects_detected(),
        tracker_checkpointed(),
        watchlist_entry(),
        face_matched(),
        rule(),
        signal_observed(),
        alert_raised(),
        alert_decided(),
        counts_aggregated(),
        audit_recorded(),
    ]
    return {m.DESCRIPTOR.full_name: m for m in built}


def to_binpb(message: Message) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)
    return data


def to_json(message: Message) -> str:
    text: str = json_format.MessageToJson(message, sort_keys=True, indent=2, ensure_ascii=False)
    return text + "\n"


def main() -> int:
    for name, message in samples().items():
        (GOLDEN_DIR / f"{name}.binpb").write_bytes(to_binpb(message))
        (GOLDEN_DIR / f"{name}.json").write_text(to_json(message), encoding="utf-8")
        print(f"wrote {name}.binpb, {name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

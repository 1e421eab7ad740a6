"""The topic registry is the single source of names, types and retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from vigie.audit.v1.audit_pb2 import AuditRecorded
from vigie_core.bus.base import TopicSpec, topic_drift, topic_specs
from vigie_core.topics import (
    AUDIT,
    CAMERAS,
    DETECTIONS,
    FRAMES,
    REGISTRY,
    SIGNALS,
    TRACKER_STATE,
    WATCHLIST,
    Cleanup,
    Topic,
    TopicRegistry,
    retention_ms_problem,
)

DESIGN_TOPICS = {
    "vigie.cameras.v1", "vigie.rules.v1", "vigie.watchlist.v1", "vigie.frames.v1",
    "vigie.detections.v1", "vigie.signals.v1", "vigie.faces.v1", "vigie.reports.v1",
    "vigie.alerts.v1", "vigie.alert-decisions.v1", "vigie.stats.v1", "vigie.camera-health.v1",
    "vigie.audit.v1",
}
INTERNAL_TOPICS = {"vigie.tracker-state.v1"}  # detect's tracker checkpoints


def test_every_topic_of_the_design_is_registered_once_with_a_distinct_message_type():
    assert {t.name for t in REGISTRY} == DESIGN_TOPICS | INTERNAL_TOPICS
    assert len({t.type_name for t in REGISTRY}) == len(REGISTRY)


@pytest.mark.parametrize("topic", [CAMERAS, WATCHLIST])
def test_state_topics_are_compacted_and_kept(topic):
    config = topic.kafka_config()
    assert config["cleanup.policy"] == "compact"
    assert config["retention.ms"] == "-1"


def test_frames_are_short_lived_and_audit_is_kept_at_least_six_months():
    assert FRAMES.retention <= timedelta(hours=1)
    assert FRAMES.kafka_config()["retention.ms"] == "3600000"
    assert AUDIT.retention >= timedelta(days=183)
    assert AUDIT.partitions == 1  # one chain, one order


def test_signals_are_co_partitioned_with_detections_for_the_rules_join():
    assert SIGNALS.key == DETECTIONS.key == "camera_id"
    assert SIGNALS.partitions == DETECTIONS.partitions


def test_every_topic_has_a_dead_letter_topic_spec():
    specs = {s.name: s for s in topic_specs(REGISTRY)}
    for topic in REGISTRY:
        assert topic.dlq in specs
        assert specs[topic.dlq].config["cleanup.policy"] == Cleanup.DELETE
    assert len(specs) == 2 * len(REGISTRY)


def test_unknown_topic_names_fail_with_the_known_ones_listed():
    with pytest.raises(KeyError, match=r"vigie\.frames\.v1"):
        REGISTRY.get("vigie.frame.v1")


@pytest.mark.parametrize("days", [1, 30, 182])
def test_the_audit_trail_can_never_be_configured_below_six_months(days):
    short = Topic("vigie.audit.v1", AuditRecorded, "chain", "audit", partitions=1,
                  retention=timedelta(days=days))
    with pytest.raises(ValueError, match="at least 183 days"):
        TopicRegistry([short])
    assert "below the 183-day audit floor" in retention_ms_problem(AUDIT, days * 86_400_000)
    TopicRegistry([Topic("vigie.audit.v1", AuditRecorded, "chain", "audit", partitions=1,
                         retention=None)])  # forever is fine
    assert retention_ms_problem(AUDIT, -1) == ""
    assert retention_ms_problem(FRAMES, 60_000) == ""  # the floor is the audit trail's only


def test_tracker_checkpoints_are_compacted_soon_and_co_partitioned_with_frames():
    config = TRACKER_STATE.kafka_config()
    assert config["cleanup.policy"] == "compact" and config["retention.ms"] == "-1"
    assert int(config["segment.ms"]) <= 3_600_000
    assert TRACKER_STATE.partitions == FRAMES.partitions and TRACKER_STATE.key == FRAMES.key


def test_drift_is_what_the_broker_has_that_the_registry_does_not_say():
    spec = TopicSpec("t", 6, {"cleanup.policy": "delete", "retention.ms": "3600000"})
    same = topic_drift(spec, 6, {"cleanup.policy": "delete", "retention.ms": "3600000",
                                 "segment.bytes": "1073741824"})  # configs not in the spec
    assert not same
    drifted = topic_drift(spec, 3, {"cleanup.policy": "delete", "retention.ms": "604800000"})
    assert drifted.configs == {"retention.ms": ("604800000", "3600000")}
    assert drifted.partitions == (3, 6)

"""The reconcile core: resources against the topic's state -> records and status patches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.message import Message
from vigie.camera.v1.camera_pb2 import Camera
from vigie.rules.v1.rule_pb2 import Rule
from vigie_controller.domain.reconcile import (
    CAMERA_KIND,
    RULE_KIND,
    Kind,
    Plan,
    comparable,
    reconcile,
)
from vigie_controller.domain.resources import Resource

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def resource(name: str, spec: dict[str, Any], *, kind: str = "Camera", namespace: str = "city",
             generation: int = 1, status: dict[str, Any] | None = None,
             created: datetime = NOW - timedelta(hours=1), deleting: bool = False) -> Resource:
    return Resource(kind, namespace, name, f"uid-{namespace}-{name}", generation, "1", created,
                    spec, status or {}, deleting)


CAM = {"source_url": "rtsp://cam.example/stream1", "sample_fps": 5, "purposes": ["objects"]}
RULE = {"camera_id": "cam-1", "kind": "zone_intrusion",
        "zone": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]], "schedule": {"duration": "2h"}}


class Cluster:
    """Applies plans the way the controller does: the topic state and the resources' statuses."""

    def __init__(self, kind: Kind, resources: list[Resource],
                 published: dict[str, Message] | None = None) -> None:
        self.kind = kind
        self.resources = {r.uid: r for r in resources}
        self.published: dict[str, Message] = dict(published or {})
        self.records: list[tuple[str, Message | None]] = []

    def step(self, now: datetime = NOW, **kwargs: Any) -> Plan:
        plan = reconcile(self.kind, list(self.resources.values()), self.published, now, **kwargs)
        for p in plan.publishes:
            self.records.append((p.key, p.message))
            if p.message is None:
                self.published.pop(p.key, None)
            else:
                self.published[p.key] = p.message
        by_ref = {(r.namespace, r.name): r for r in self.resources.values()}
        for s in plan.statuses:
            r = by_ref[(s.namespace, s.name)]
            self.resources[r.uid] = r.with_status(s.status)
        return plan

    def status(self, name: str) -> dict[str, Any]:
        return dict(next(r for r in self.resources.values() if r.name == name).status)

    def ready(self, name: str) -> dict[str, Any]:
        conditions = self.status(name)["conditions"]
        assert [c["type"] for c in conditions] == ["Ready"]
        return dict(conditions[0])


def test_a_new_camera_is_published_and_reported_ready() -> None:
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", CAM)])
    plan = cluster.step()
    assert [(p.key, p.reason) for p in plan.publishes] == [("cam-1", "created")]
    camera = cluster.published["cam-1"]
    assert isinstance(camera, Camera)
    assert camera.source_url == "rtsp://cam.example/stream1"
    assert camera.updated_by == "k8s:city/cam-1"
    assert camera.updated_at.ToDatetime(tzinfo=UTC) == NOW
    ready = cluster.ready("cam-1")
    assert (ready["status"], ready["reason"]) == ("True", "Published")
    status = cluster.status("cam-1")
    assert status["cameraId"] == "cam-1"
    assert status["topic"] == "vigie.cameras.v1"
    assert status["observedGeneration"] == 1
    assert status["eventId"] == plan.publishes[0].event_id


def test_resync_of_an_unchanged_cluster_plans_nothing() -> None:
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", CAM), resource("cam-2", CAM)])
    assert cluster.step()
    for later in (NOW + timedelta(minutes=5), NOW + timedelta(days=3)):
        plan = cluster.step(later)
        assert not plan, plan
    assert len(cluster.records) == 2


def test_a_changed_spec_publishes_again_with_a_new_event_id() -> None:
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", CAM)])
    first = cluster.step().publishes[0]
    r = next(iter(cluster.resources.values()))
    cluster.resources[r.uid] = Resource(r.kind, r.namespace, r.name, r.uid, 2, "2", r.created,
                                        {**CAM, "sample_fps": 10}, r.status)
    later = NOW + timedelta(minutes=1)
    plan = cluster.step(later)
    assert [(p.key, p.reason) for p in plan.publishes] == [("cam-1", "changed")]
    assert plan.publishes[0].event_id != first.event_id
    camera = cluster.published["cam-1"]
    assert isinstance(camera, Camera)
    assert camera.sample_fps == 10
    assert cluster.status("cam-1")["observedGeneration"] == 2
    # The Ready condition did not change state: its transition time stays.
    assert cluster.ready("cam-1")["lastTransitionTime"] == "2026-11-30T09:00:00Z"


def test_deleting_a_resource_publishes_a_tombstone_once() -> None:
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", CAM), resource("cam-2", CAM)])
    cluster.step()
    del cluster.resources["uid-city-cam-2"]
    plan = cluster.step()
    assert [(p.key, p.message, p.reason) for p in plan.publishes] == [("cam-2", None, "deleted")]
    assert set(cluster.published) == {"cam-1"}
    assert not cluster.step()


def test_a_resource_being_deleted_counts_as_gone() -> None:
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", CAM)])
    cluster.step()
    r = cluster.resources["uid-city-cam-1"]
    cluster.resources[r.uid] = resource("cam-1", CAM, deleting=True, status=dict(r.status))
    plan = cluster.step()
    assert [(p.key, p.message) for p in plan.publishes] == [("cam-1", None)]
    assert plan.statuses == []  # nothing to write on an object on its way out


def test_records_deleted_while_the_controller_was_down_are_tombstoned_at_resync() -> None:
    """The topic still holds a camera whose resource no longer exists (deleted while the
    controller was stopped): the next resync removes it."""
    stale = Camera(camera_id="cam-old", source_url="rtsp://x.example/a",
                   updated_by="k8s:city/cam-old")
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", CAM)], {"cam-old": stale})
    plan = cluster.step()
    assert sorted((p.key, p.reason) for p in plan.publishes) == [("cam-1", "created"),
                                                                 ("cam-old", "deleted")]


def test_records_of_other_writers_are_left_alone() -> None:
    by_grpc = Camera(camera_id="cam-grpc", source_url="rtsp://x.example/a", updated_by="alice")
    by_cli = Rule(rule_id="r-cli", camera_id="cam-1", created_by="bob")
    assert not Cluster(CAMERA_KIND, [], {"cam-grpc": by_grpc}).step()
    assert not Cluster(RULE_KIND, [], {"r-cli": by_cli}).step()


def test_records_of_namespaces_out_of_scope_are_left_alone() -> None:
    theirs = Camera(camera_id="cam-x", source_url="rtsp://x.example/a",
                    updated_by="k8s:other-district/cam-x")
    cluster = Cluster(CAMERA_KIND, [], {"cam-x": theirs})
    assert not cluster.step(in_scope=lambda ns: ns == "city")
    assert [p.key for p in cluster.step(in_scope=lambda ns: True).publishes] == ["cam-x"]


def test_a_resource_takes_over_a_key_another_writer_registered() -> None:
    by_grpc = Camera(camera_id="cam-1", source_url="rtsp://old.example/a", updated_by="alice")
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", CAM)], {"cam-1": by_grpc})
    plan = cluster.step()
    assert [(p.key, p.reason) for p in plan.publishes] == [("cam-1", "adopted")]
    camera = cluster.published["cam-1"]
    assert isinstance(camera, Camera)
    assert camera.updated_by == "k8s:city/cam-1"


def test_drift_is_put_back() -> None:
    """Someone changed a resource's camera over gRPC: the resource's version comes back."""
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", CAM)])
    cluster.step()
    edited = Camera()
    edited.CopyFrom(cluster.published["cam-1"])
    edited.sample_fps, edited.updated_by = 25, "alice"
    cluster.published["cam-1"] = edited
    plan = cluster.step()
    assert [(p.key, p.reason) for p in plan.publishes] == [("cam-1", "adopted")]
    camera = cluster.published["cam-1"]
    assert isinstance(camera, Camera)
    assert camera.sample_fps == 5


def test_an_invalid_spec_publishes_nothing_and_keeps_the_last_valid_version() -> None:
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", CAM)])
    cluster.step()
    good = cluster.published["cam-1"]
    r = cluster.resources["uid-city-cam-1"]
    cluster.resources[r.uid] = resource("cam-1", {**CAM, "source_url": "rtsp://u:pw@cam/x"},
                                        generation=2, status=dict(r.status))
    plan = cluster.step()
    assert plan.publishes == []
    assert cluster.published["cam-1"] is good
    ready = cluster.ready("cam-1")
    assert (ready["status"], ready["reason"]) == ("False", "Invalid")
    assert "credentials must not be in the URL" in ready["message"]
    assert "keeps the last valid version" in ready["message"]
    assert "eventId" not in cluster.status("cam-1")
    assert not cluster.step()  # still invalid: nothing new to say


def test_an_invalid_new_resource_is_reported_and_not_published() -> None:
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", {"source_url": "ftp://x/y"})])
    plan = cluster.step()
    assert plan.publishes == []
    ready = cluster.ready("cam-1")
    assert ready["reason"] == "Invalid"
    assert "spec.source_url" in ready["message"]
    assert "last valid version" not in ready["message"]


def test_two_resources_claiming_one_camera_id_the_older_keeps_it() -> None:
    older = resource("cam-a", {**CAM, "camera_id": "shared"}, created=NOW - timedelta(days=2))
    newer = resource("cam-b", {**CAM, "camera_id": "shared", "sample_fps": 9},
                     namespace="other", created=NOW - timedelta(days=1))
    cluster = Cluster(CAMERA_KIND, [newer, older])
    plan = cluster.step()
    assert [(p.key, p.owner) for p in plan.publishes] == [("shared", "k8s:city/cam-a")]
    loser = cluster.ready("cam-b")
    assert (loser["status"], loser["reason"]) == ("False", "Conflict")
    assert "city/cam-a" in loser["message"]
    assert not cluster.step()


def test_changing_the_camera_id_moves_the_record() -> None:
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", CAM)])
    cluster.step()
    r = cluster.resources["uid-city-cam-1"]
    cluster.resources[r.uid] = resource("cam-1", {**CAM, "camera_id": "cam-renamed"},
                                        generation=2, status=dict(r.status))
    plan = cluster.step()
    assert sorted((p.key, p.reason) for p in plan.publishes) == [("cam-1", "deleted"),
                                                                 ("cam-renamed", "created")]
    assert cluster.status("cam-1")["cameraId"] == "cam-renamed"


def test_status_patch_removes_fields_that_no_longer_apply() -> None:
    cluster = Cluster(CAMERA_KIND, [resource("cam-1", CAM)])
    cluster.step()
    r = cluster.resources["uid-city-cam-1"]
    cluster.resources[r.uid] = resource("cam-1", {"source_url": "bad"}, generation=2,
                                        status=dict(r.status))
    plan = cluster.step()
    (patch,) = plan.statuses
    assert patch.body["status"]["eventId"] is None  # merge patch: null removes the field
    assert patch.body["status"]["conditions"][0]["reason"] == "Invalid"


def test_rule_published_with_its_duration_anchored_at_first_application() -> None:
    cluster = Cluster(RULE_KIND, [resource("r-1", RULE, kind="Rule")])
    cluster.step()
    rule = cluster.published["r-1"]
    assert isinstance(rule, Rule)
    assert rule.created_by == "k8s:city/r-1"
    assert rule.schedule.valid_until.ToDatetime(tzinfo=UTC) == NOW + timedelta(hours=2)
    status = cluster.status("r-1")
    assert (status["anchor"], status["validUntil"]) == ("2026-11-30T09:00:00Z",
                                                        "2026-11-30T11:00:00Z")
    # An hour later (resync, restart): the same two hours, not two more.
    assert not cluster.step(NOW + timedelta(hours=1))
    # A new generation starts them again.
    r = cluster.resources["uid-city-r-1"]
    cluster.resources[r.uid] = resource("r-1", {**RULE, "severity": "high"}, kind="Rule",
                                        generation=2, status=dict(r.status))
    later = NOW + timedelta(hours=1, seconds=30.5)
    cluster.step(later)
    rule = cluster.published["r-1"]
    assert isinstance(rule, Rule)
    assert rule.schedule.valid_until.ToDatetime(tzinfo=UTC) == (
        later.replace(microsecond=0) + timedelta(hours=2))
    assert not cluster.step(later + timedelta(minutes=5))


def test_rule_tombstone_on_deletion_and_conflicts_by_rule_id() -> None:
    a = resource("r-a", {**RULE, "rule_id": "shared"}, kind="Rule", created=NOW - timedelta(2))
    b = resource("r-b", {**RULE, "rule_id": "shared"}, kind="Rule", created=NOW - timedelta(1))
    cluster = Cluster(RULE_KIND, [a, b])
    assert [p.key for p in cluster.step().publishes] == ["shared"]
    assert cluster.ready("r-b")["reason"] == "Conflict"
    del cluster.resources[a.uid]
    plan = cluster.step()
    # The survivor claims the key now: it publishes over it, no tombstone in between.
    assert [(p.key, p.reason, p.owner) for p in plan.publishes] == [
        ("shared", "adopted", "k8s:city/r-b")]
    assert cluster.ready("r-b")["reason"] == "Published"


@pytest.mark.parametrize("spec, expected", [
    ({**RULE, "kind": "loitering"}, "spec.max_dwell_s: required for loitering rules"),
    ({**RULE, "classes": ["persn"]}, "did you mean 'person'"),
    ({**RULE, "zone": [[0, 0], [1, 1], [1, 0], [0, 1]]}, "spec.zone"),
    ({**RULE, "surprise": 1}, "spec.surprise: unknown field"),
])
def test_invalid_rules_are_reported_with_the_rule_checks(spec: dict[str, Any],
                                                         expected: str) -> None:
    cluster = Cluster(RULE_KIND, [resource("r-1", spec, kind="Rule")])
    plan = cluster.step()
    assert plan.publishes == []
    ready = cluster.ready("r-1")
    assert ready["reason"] == "Invalid"
    assert expected in ready["message"]


def test_comparable_ignores_only_updated_at() -> None:
    a = Camera(camera_id="c", source_url="rtsp://h/x")
    b = Camera()
    b.CopyFrom(a)
    b.updated_at.FromDatetime(NOW)
    assert comparable(a) == comparable(b)
    b.sample_fps = 1
    assert comparable(a) != comparable(b)

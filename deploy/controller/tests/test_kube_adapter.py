"""KubeApi over the real kubernetes client (CustomObjectsApi, watch.Watch): recorded watch events,
list responses and status patches, at the HTTP layer."""

from __future__ import annotations

import json

import pytest
from fakekube import FIXTURES, FakeApiServer
from vigie_controller.adapters.kube import KubeApi, WatchExpired
from vigie_controller.domain.reconcile import CAMERA_KIND, RULE_KIND, StatusPatch


def recorded(fixture: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / fixture).read_text().splitlines() if line]


@pytest.fixture
def server() -> FakeApiServer:
    return FakeApiServer()


def test_list_cluster_wide_and_per_namespace(server: FakeApiServer) -> None:
    added = [e["object"] for e in recorded("cameras-watch.jsonl") if e["type"] == "ADDED"]
    for obj in added:
        server.put(obj)
    server.put({**added[0], "metadata": {"name": "cam-elsewhere", "namespace": "other"}})
    api = KubeApi(server.custom_objects_api())
    resources, version = api.list(CAMERA_KIND, None)
    assert sorted(r.ref for r in resources) == ["city/cam-bellecour-01",
                                                "city/cam-gare-part-dieu", "other/cam-elsewhere"]
    assert version == str(server.version)
    assert server.requests[-1].path == "/apis/vigie.io/v1alpha1/cameras"
    city = KubeApi(server.custom_objects_api(), ["city"])
    resources, _ = city.list(CAMERA_KIND, "city")
    assert sorted(r.name for r in resources) == ["cam-bellecour-01", "cam-gare-part-dieu"]
    assert server.requests[-1].path == "/apis/vigie.io/v1alpha1/namespaces/city/cameras"
    bellecour = next(r for r in resources if r.name == "cam-bellecour-01")
    assert bellecour.uid == "6f1c9a4e-2b7d-4c1e-9a55-0d7e3b8f1a01"
    assert bellecour.spec["source_url"] == "rtsp://10.20.0.11:554/stream1"
    assert city.in_scope("city") and not city.in_scope("other")


def test_watch_parses_recorded_events(server: FakeApiServer) -> None:
    server.queue_watch("cameras", "cameras-watch.jsonl")
    api = KubeApi(server.custom_objects_api())
    events = list(api.watch(CAMERA_KIND, None, "52000", timeout_s=30))
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "BOOKMARK", "ADDED", "DELETED"]
    assert [e.resource_version for e in events] == ["52001", "52017", "52020", "52031", "52044"]
    added, modified, bookmark, _, deleted = events
    assert added.resource is not None and modified.resource is not None
    assert (added.resource.generation, modified.resource.generation) == (1, 2)
    assert modified.resource.spec["sample_fps"] == 10
    assert bookmark.resource is None
    assert deleted.resource is not None and deleted.resource.deleting
    (request,) = server.requests
    assert request.path == "/apis/vigie.io/v1alpha1/cameras"
    assert request.query["watch"] == ["true"]
    assert request.query["resourceVersion"] == ["52000"]
    assert request.query["allowWatchBookmarks"] == ["true"]
    assert request.query["timeoutSeconds"] == ["30"]


def test_watch_namespaced_rules(server: FakeApiServer) -> None:
    server.queue_watch("rules", "rules-watch.jsonl")
    api = KubeApi(server.custom_objects_api(), ["city"])
    events = list(api.watch(RULE_KIND, "city", "53000", timeout_s=30))
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert server.requests[0].path == "/apis/vigie.io/v1alpha1/namespaces/city/rules"


def test_an_expired_watch_says_so(server: FakeApiServer) -> None:
    server.queue_watch("cameras", "cameras-watch-expired.jsonl")
    api = KubeApi(server.custom_objects_api())
    with pytest.raises(WatchExpired):
        list(api.watch(CAMERA_KIND, None, "52001", timeout_s=30))


def test_status_is_a_merge_patch_on_the_status_subresource(server: FakeApiServer) -> None:
    obj = recorded("cameras-watch.jsonl")[0]["object"]
    server.put(obj)
    api = KubeApi(server.custom_objects_api())
    status = {"observedGeneration": 1, "cameraId": "cam-bellecour-01",
              "conditions": [{"type": "Ready", "status": "True", "reason": "Published"}]}
    updated = api.patch_status(CAMERA_KIND, StatusPatch("city", "cam-bellecour-01", status,
                                                        {"status": status}))
    assert updated is not None and updated.status == status
    (patch,) = server.status_patches()
    assert patch.path == "/apis/vigie.io/v1alpha1/namespaces/city/cameras/cam-bellecour-01/status"
    assert patch.headers["Content-Type"] == "application/merge-patch+json"
    assert patch.query["fieldManager"] == ["vigie-controller"]
    assert patch.body == {"status": status}
    assert server.get("cameras", "city", "cam-bellecour-01")["status"] == status
    gone = api.patch_status(CAMERA_KIND, StatusPatch("city", "nope", status, {"status": status}))
    assert gone is None


def test_objects_built_with_the_client_models() -> None:
    """Metadata as the client's own models serialise it (datetimes as ISO 8601 with an offset)."""
    from datetime import UTC, datetime

    from kubernetes import client
    from vigie_controller.domain.resources import Resource

    meta = client.V1ObjectMeta(
        name="cam-quai", namespace="city", uid="u-1", generation=3, resource_version="77",
        creation_timestamp=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        deletion_timestamp=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    obj = client.ApiClient().sanitize_for_serialization(
        {"apiVersion": "vigie.io/v1alpha1", "kind": "Camera", "metadata": meta,
         "spec": {"source_url": "rtsp://h/s"}})
    r = Resource.from_object(obj)
    assert (r.ref, r.uid, r.generation, r.resource_version) == ("city/cam-quai", "u-1", 3, "77")
    assert r.created == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert r.deleting

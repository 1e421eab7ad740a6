"""Camera and Rule CRDs: the examples are valid resources that the controller accepts, and the
Rule CRD follows the rule spec it wraps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import gen_crds
import manifests
import pytest
import yaml
from vigie_controller.domain.cameras import CameraSpec
from vigie_controller.domain.reconcile import CAMERA_KIND, RULE_KIND, reconcile
from vigie_controller.domain.resources import Resource
from vigie_rules.domain.spec import KIND_NAMES, SEVERITY_NAMES, RuleSpec

CRDS = manifests.CHART / "crds"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def crd(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CRDS / name).read_text()))


def spec_schema(name: str) -> dict[str, Any]:
    (version,) = crd(name)["spec"]["versions"]
    return dict(version["schema"]["openAPIV3Schema"]["properties"]["spec"])


def examples() -> list[dict[str, Any]]:
    return [d for p in sorted(manifests.EXAMPLES.glob("*.yaml"))
            for d in yaml.safe_load_all(p.read_text()) if d]


def test_crds_are_valid_kubernetes_objects() -> None:
    docs = [crd("cameras.vigie.io.yaml"), crd("rules.vigie.io.yaml")]
    assert manifests.validate(docs) == []
    for d in docs:
        (version,) = d["spec"]["versions"]
        assert version["subresources"] == {"status": {}}  # status is the controller's alone


def test_rule_crd_has_every_rule_spec_field_and_nothing_else() -> None:
    """Fails when the rule spec gains (or loses) a field the CRD does not follow."""
    props = spec_schema("rules.vigie.io.yaml")["properties"]
    assert set(props) == set(RuleSpec.model_fields)
    assert props["kind"]["enum"] == list(KIND_NAMES)
    assert props["severity"]["enum"] == list(SEVERITY_NAMES)


def test_rule_crd_kinds_are_generated_from_the_rules_registry() -> None:
    assert gen_crds.rule_crd() == gen_crds.RULE_CRD.read_text(), (
        "the Rule CRD is stale: python deploy/scripts/gen_crds.py")


def test_a_kind_added_to_the_registry_appears_in_the_generated_crd() -> None:
    text = gen_crds.rule_crd([*KIND_NAMES, "parking_full"])
    (version,) = yaml.safe_load(text)["spec"]["versions"]
    kind = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["kind"]
    assert kind["enum"] == [*KIND_NAMES, "parking_full"]
    assert text.replace("parking_full", "").replace(", ]", "]") == gen_crds.rule_crd()


def test_camera_crd_has_every_camera_spec_field_and_nothing_else() -> None:
    props = spec_schema("cameras.vigie.io.yaml")["properties"]
    assert set(props) == set(CameraSpec.model_fields)


def test_examples_are_valid_and_accepted_by_the_controller() -> None:
    docs = examples()
    assert {d["kind"] for d in docs} == {"Camera", "Rule"}
    assert manifests.validate(docs) == []
    for kind in (CAMERA_KIND, RULE_KIND):
        resources = [Resource.from_object({**d, "metadata": {**d["metadata"], "uid": str(i)}})
                     for i, d in enumerate(docs) if d["kind"] == kind.name]
        plan = reconcile(kind, resources, {}, NOW)
        assert len(plan.publishes) == len(resources)
        for status in plan.statuses:
            ready = status.status["conditions"][0]
            assert ready["status"] == "True", ready["message"]


@pytest.mark.parametrize("spec, path", [
    ({"source_url": "ftp://x/y"}, "spec.source_url"),
    ({"source_url": "rtsp://h/s", "sample_fps": 0}, "spec.sample_fps"),
    ({"source_url": "rtsp://h/s", "purposes": ["biometrics"]}, "spec.purposes.0"),
    ({"source_url": "rtsp://h/s", "bogus": 1}, "spec"),
    ({"sample_fps": 5}, "spec"),
    ({"source_url": "rtsp://h/s", "slicing_mode": "sahi"}, "spec.slicing_mode"),
    ({"source_url": "rtsp://h/s", "far_field_regions": [
        {"x_min": 0, "y_min": 0, "x_max": 1.5, "y_max": 1}]}, "spec.far_field_regions.0.x_max"),
    ({"source_url": "rtsp://h/s", "far_field_regions": [
        {"x_min": 0, "y_min": 0, "x_max": 1}]}, "spec.far_field_regions.0"),
])
def test_camera_crd_schema_refuses(spec: dict[str, Any], path: str) -> None:
    doc = {"apiVersion": "vigie.io/v1alpha1", "kind": "Camera", "metadata": {"name": "c"},
           "spec": spec}
    problems = manifests.validate([doc])
    assert problems and any(f": {path}:" in p for p in problems), problems


def crdcheck_or_skip() -> str:
    import os

    binary = manifests.Path(os.environ.get(
        "TOOLS", manifests.Path.home() / ".cache/vigie/tools")) / "bin/vigie-crdcheck"
    if not binary.is_file():
        message = f"{binary} missing: run deploy/scripts/ensure-tools.sh"
        pytest.skip(message)
    return str(binary)


BAD = """\
apiVersion: vigie.io/v1alpha1
kind: Camera
metadata: {name: no-authorisation, namespace: city}
spec: {source_url: "rtsp://h/s", purposes: [face_matching]}
---
apiVersion: vigie.io/v1alpha1
kind: Camera
metadata: {name: reversed-window, namespace: city}
spec:
  source_url: rtsp://h/s
  purposes: [objects, face_matching]
  face_authorisation:
    reference: ARRETE-1
    window: {start: "2026-12-02T00:00:00Z", end: "2026-12-01T00:00:00Z"}
---
apiVersion: vigie.io/v1alpha1
kind: Camera
metadata: {name: typo, namespace: city}
spec: {source_url: "rtsp://h/s", fps: 3}
---
apiVersion: vigie.io/v1alpha1
kind: Camera
metadata: {name: far-field-without-regions, namespace: city}
spec: {source_url: "rtsp://h/s", slicing_mode: far_field}
---
apiVersion: vigie.io/v1alpha1
kind: Camera
metadata: {name: empty-region, namespace: city}
spec:
  source_url: rtsp://h/s
  slicing_mode: tiles
  far_field_regions: [{x_min: 0.6, y_min: 0, x_max: 0.4, y_max: 0.5}]
---
apiVersion: vigie.io/v1alpha1
kind: Rule
metadata: {name: bad-severity, namespace: city}
spec: {kind: loitering, severity: urgent}
"""


def test_the_api_servers_own_validation_accepts_the_crds_and_examples() -> None:
    """k8s.io/apiextensions-apiserver's checks, offline: structural schemas, CEL rules compiled
    within budget, and the examples against schema, pruning and CEL."""
    import subprocess

    binary = crdcheck_or_skip()
    crds = sorted(str(p) for p in CRDS.glob("*.yaml"))
    examples_ = sorted(str(p) for p in manifests.EXAMPLES.glob("*.yaml"))
    proc = subprocess.run([binary, *crds, "--", *examples_], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_api_servers_own_validation_refuses_bad_resources(tmp_path: Any) -> None:
    import subprocess

    binary = crdcheck_or_skip()
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    crds = sorted(str(p) for p in CRDS.glob("*.yaml"))
    proc = subprocess.run([binary, *crds, "--", str(bad)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    expected = {
        "Camera/no-authorisation": "face_matching needs face_authorisation",  # CEL
        "Camera/reversed-window": "window end must be after its start",  # CEL
        "Camera/typo": 'unknown field "spec.fps"',  # pruning
        "Camera/far-field-without-regions": "slicing_mode far_field needs far_field_regions",
        "Camera/empty-region": "a far-field region needs x_min < x_max and y_min < y_max",
        "Rule/bad-severity": 'Unsupported value: "urgent"',  # enum
    }
    for resource, message in expected.items():
        assert any(resource in ln and message in ln for ln in lines), (resource, proc.stdout)

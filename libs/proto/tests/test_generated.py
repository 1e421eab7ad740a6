"""The generated package imports cleanly and matches proto/."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import vigie

REPO = Path(__file__).resolve().parents[3]


def _modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(vigie.__path__, prefix="vigie.")
        if info.name.endswith(("_pb2", "_pb2_grpc"))
    )


def test_every_proto_file_has_a_module() -> None:
    protos = {
        p.relative_to(REPO / "proto").with_suffix("").as_posix().replace("/", ".") + "_pb2"
        for p in (REPO / "proto").rglob("*.proto")
    }
    assert protos == {m for m in _modules() if m.endswith("_pb2")}


@pytest.mark.parametrize("module", _modules())
def test_module_imports(module: str) -> None:
    # Raises if the protobuf/grpcio runtime is older than the generated code requires.
    loaded = importlib.import_module(module)
    assert hasattr(loaded, "DESCRIPTOR") or any(name.endswith("Stub") for name in dir(loaded))


@pytest.mark.parametrize(
    ("module", "stub"),
    [
        ("vigie.ingest.v1.ingest_service_pb2_grpc", "IngestServiceStub"),
        ("vigie.detect.v1.detect_service_pb2_grpc", "DetectServiceStub"),
        ("vigie.face.v1.face_service_pb2_grpc", "FaceServiceStub"),
        ("vigie.rules.v1.rules_service_pb2_grpc", "RulesServiceStub"),
        ("vigie.alerts.v1.alerts_service_pb2_grpc", "AlertsServiceStub"),
        ("vigie.audit.v1.audit_service_pb2_grpc", "AuditServiceStub"),
    ],
)
def test_services_have_stubs(module: str, stub: str) -> None:
    generated = importlib.import_module(module)
    assert hasattr(generated, stub)
    assert hasattr(generated, stub.removesuffix("Stub") + "Servicer")


def test_generated_code_is_up_to_date() -> None:
    pytest.importorskip("grpc_tools", reason="regeneration needs grpcio-tools")
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_proto.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr

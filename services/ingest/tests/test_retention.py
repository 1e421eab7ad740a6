"""Retention of citizen evidence (DESIGN invariant 6): an upload kept under
<data_dir>/evidence/citizen is deleted once its retention is over, and the deletion is proven by
a signed audit record with the media's SHA-256 and dates, which the retention report lists."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import AsyncIterator

from PIL import Image
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie.ingest.v1.ingest_service_pb2 import UploadMetadata
from vigie_core.audit import read_audit, verify_records
from vigie_core.bus.memory import MemoryBus
from vigie_core.retention import render, report
from vigie_core.runtime import start
from vigie_core.settings import CoreSettings


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 80, 40)).save(out, format="JPEG")
    return out.getvalue()


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_expired_citizen_uploads_are_deleted_with_an_audited_proof(tmp_path):
    bus = MemoryBus("retention")
    running = await start(["ingest"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          bus, {"ingest": {"citizen_evidence_retention_days": 3 / 86400,
                                           "retention_interval_s": 0.5}})
    try:
        ingest = running.services[0]
        data = photo()
        meta = UploadMetadata(media_type="image/jpeg", text="abandoned bags")
        meta.geo.lat_deg, meta.geo.lon_deg = 45.76, 4.83
        uploaded = time.monotonic()  # retention counts from the upload's receipt, after this
        report_id, frames = await ingest.citizen.upload(meta, chunks(data))
        assert frames == 1
        media = tmp_path / "evidence/citizen" / f"{report_id}.media"
        sidecar = media.with_suffix(".json")
        assert media.is_file() and sidecar.is_file()
        await asyncio.sleep(1.0)
        assert media.is_file()  # not before its time
        deadline = time.monotonic() + 20
        while media.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert not media.exists() and not sidecar.exists()
        assert time.monotonic() - uploaded >= 3.0
        # the proof is recorded once the file is gone: wait for it (bounded)
        while True:
            records = await read_audit(bus)
            proofs = [r for r in records
                      if r.action == AuditAction.AUDIT_ACTION_RETENTION_DELETION]
            if proofs or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await running.stop()
    (proof,) = proofs
    assert proof.subject_ref == f"report:{report_id}" and proof.chain == "ingest/0"
    assert proof.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert proof.details["size_bytes"] == str(len(data))
    assert proof.details["what"] == "citizen upload" and proof.details["file_found"] == "true"
    assert proof.details["captured_at"] < proof.details["expired_at"]
    assert proof.signature  # signed by ingest's key
    verification = verify_records(records)
    assert verification["ingest/0"].valid and verification["ingest/0"].signed
    rows = report(records, verification)
    assert [(r.subject_ref, r.sha256, r.chain_verified) for r in rows] == [
        (f"report:{report_id}", hashlib.sha256(data).hexdigest(), True)]
    assert report_id in render(rows) and hashlib.sha256(data).hexdigest() in render(rows, "csv")

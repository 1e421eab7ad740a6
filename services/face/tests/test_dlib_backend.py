"""The second embedder: dlib's ResNet behind the same service, with its own calibrated
threshold; templates of one model never match probes of the other."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from face_helpers import frame_of
from test_face_service import NOW, OBAMA, OPERATOR, camera, enrol, matches, play, stub
from vigie.face.v1 import face_service_pb2 as pb
from vigie.face.v1.watchlist_pb2 import WATCHLIST_CATEGORY_VOLUNTEER, WatchlistEntry
from vigie_core.bus.memory import MemoryBus
from vigie_core.model_catalogue import DLIB_RESNET
from vigie_core.runtime import start
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERAS, REGISTRY, WATCHLIST


async def test_dlib_matches_the_enrolled_person_and_ignores_sface_templates(tmp_path, photos):
    assert DLIB_RESNET.calibration  # measured on LFW (docs/models/dlib-resnet.md)
    bus = MemoryBus("face-dlib")
    # an entry enrolled by an SFace replica (its ciphertext never needs decrypting here)
    old = WatchlistEntry(subject_id="subj-" + "a" * 24, display_name="Volunteer A",
                         category=WATCHLIST_CATEGORY_VOLUNTEER, key_id="k-" + "b" * 32,
                         encrypted_template=b"\x00" * 540,
                         template_model_id="sface-2021dec@fb143eea0783")
    old.consent.expires_at.FromDatetime(NOW + timedelta(days=30))
    await bus.start()
    await bus.ensure_topics(REGISTRY)
    await (await bus.publish(WATCHLIST, old.subject_id, old))
    running = await start(["face"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path,
                                                 instance="dlib-1"), bus,
                          {"face": {"embedder": "dlib"}})
    try:
        service = running.services[0].app
        service.clock = lambda: NOW
        assert service.engine.model_id.startswith("yunet-2023mar+dlib-resnet-v1@55533b28a958")
        assert old.subject_id in service.watchlist.unusable  # an SFace template: not matched
        assert "template of model sface-2021dec" in service.watchlist.unusable[old.subject_id]
        await (await bus.publish(CAMERAS, "cam-massena", camera("cam-massena")))
        for _ in range(100):
            if service.cameras.get("cam-massena") is not None:
                break
            await asyncio.sleep(0.02)
        new = await enrol(stub(running), photos, [OBAMA], "Volunteer A (dlib)")
        clip = [frame_of(photos / f) for f in ("face_recognition/obama2.jpg",
                                               "face_recognition/obama3.jpg",
                                               "face_recognition/biden.jpg",
                                               "insightface/t1.jpg")]
        await play(running, "cam-massena", clip)
        found = await matches(bus)
        assert sorted(m.frame_id for m in found) == ["cam-massena:0", "cam-massena:1"]
        assert {m.subject_id for m in found} == {new.subject_id}
        assert all(m.model_id == service.engine.model_id for m in found)
        verdict = await stub(running).Verify(pb.VerifyRequest(
            photo_a=(photos / OBAMA).read_bytes(),
            photo_b=(photos / "face_recognition/biden.jpg").read_bytes()),
            metadata=OPERATOR, timeout=60)
        assert not verdict.same and verdict.threshold == pytest.approx(service.threshold)
    finally:
        await running.stop()

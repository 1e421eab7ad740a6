"""The face service in the embedded runtime, on real photos from packages (make face-testdata):
two real people enrolled over gRPC, a clip built from their other photos and from strangers'
photos; matches only where and while authorised, audited, and nothing of the strangers' faces
left anywhere (privacy invariant 2)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import numpy as np
import pytest
from face_helpers import frame_of, jpeg
from vigie.audit.v1.audit_pb2 import (
    AUDIT_ACTION_ENROLMENT,
    AUDIT_ACTION_ERASURE,
    AUDIT_ACTION_EXPIRY,
    AUDIT_ACTION_MATCH,
    AUDIT_ACTION_SEARCH,
)
from vigie.camera.v1.camera_pb2 import PURPOSE_FACE_MATCHING, PURPOSE_TRAFFIC, Camera
from vigie.face.v1 import face_service_pb2 as pb
from vigie.face.v1 import face_service_pb2_grpc as pb_grpc
from vigie.face.v1.face_match_pb2 import FaceMatched
from vigie.face.v1.watchlist_pb2 import (
    LEGAL_BASIS_CONSENT,
    LEGAL_BASIS_JUDICIAL_ORDER,
    WATCHLIST_CATEGORY_VOLUNTEER,
    WATCHLIST_CATEGORY_WANTED,
    ConsentRecord,
    WatchlistEntry,
)
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.audit import read_audit, verify_records
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERAS, FACES, FRAMES, REGISTRY, WATCHLIST
from vigie_face.adapters.images import decode, working_size
from vigie_face.app import FaceApp
from vigie_face.service import FaceService

NOW = datetime(2026, 2, 14, 14, 30, tzinfo=UTC)  # carnival parade, 14:00-18:00
WINDOW = (datetime(2026, 2, 14, 14, 0, tzinfo=UTC), datetime(2026, 2, 14, 18, 0, tzinfo=UTC))
OPERATOR = (("vigie-operator", "op-alice"),)

OBAMA = "face_recognition/obama.jpg"
JESPER = "kphotoalbum/jesper_2.jpg"
# The clip: the two people's *other* photos, and strangers' (names are the packages' file names)
CLIP = [
    ("face_recognition/obama2.jpg", "obama"),
    ("face_recognition/obama3.jpg", "obama"),
    ("kphotoalbum/bar55_2.jpg", "jesper"),   # Jesper with Anne Helene and two background faces
    ("kphotoalbum/qt-logo.jpg", "jesper"),   # Jesper between Jim and Wayne
    ("face_recognition/biden.jpg", None),
    ("insightface/t1.jpg", None),            # six strangers
    ("kphotoalbum/anne_helene.jpg", None),
    ("insightface/Tom_Hanks_54745.png", None),
]


def camera(camera_id: str, face: bool = True) -> Camera:
    cam = Camera(camera_id=camera_id, enabled=True,
                 purposes=[PURPOSE_FACE_MATCHING] if face else [PURPOSE_TRAFFIC])
    if face:
        cam.face_authorisation.reference = "arrete-2026-041"
        cam.face_authorisation.window.start.FromDatetime(WINDOW[0])
        cam.face_authorisation.window.end.FromDatetime(WINDOW[1])
    return cam


def frame(camera_id: str, seq: int, data: bytes, at: datetime | None = None) -> FrameSampled:
    f = FrameSampled(frame_id=f"{camera_id}:{seq}", camera_id=camera_id, sequence=seq, jpeg=data,
                     width=960, height=540)
    f.captured_at.FromDatetime(at or NOW + timedelta(seconds=seq))
    return f


def consent(expires: datetime, basis: int = LEGAL_BASIS_CONSENT,
            reference: str = "form-2026-0007") -> ConsentRecord:
    c = ConsentRecord(legal_basis=basis, reference=reference)
    c.expires_at.FromDatetime(expires)
    return c


@pytest.fixture
async def face(tmp_path, photos) -> AsyncIterator[Running]:
    bus = MemoryBus("face-test")
    running = await start(["face"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          bus, {"face": {"expiry_check_s": 3600, "expired_purge_days": 0}})
    service = running.services[0].app
    service.clock = lambda: NOW
    for cam in (camera("cam-massena"), camera("cam-gare", face=False)):
        await (await bus.publish(CAMERAS, cam.camera_id, cam))
    for _ in range(100):
        if len(service.cameras) == 2:
            break
        await asyncio.sleep(0.02)
    yield running
    await running.stop()


def stub(running: Running) -> pb_grpc.FaceServiceStub:
    """A watchlist client (a machine token: it names its operator in vigie-operator)."""
    return pb_grpc.FaceServiceStub(running.channel("watchlist"))


async def enrol(client, photos: Path, files: list[str], name: str, expires: datetime = NOW +
                timedelta(days=30), **extra) -> pb.EnrollResponse:
    request = pb.EnrollRequest(display_name=name, category=WATCHLIST_CATEGORY_VOLUNTEER,
                               consent=consent(expires),
                               photos=[(photos / f).read_bytes() for f in files], **extra)
    return await client.Enroll(request, metadata=OPERATOR, timeout=60)


async def play(running: Running, camera_id: str, datas: list[bytes], first_seq: int = 0,
               at: datetime | None = None) -> None:
    """Publish frames and wait until the service has handled all of them."""
    service = running.services[0].app
    before = sum(service.frames.values())
    for k, data in enumerate(datas):
        seq = first_seq + k
        await running.bus.publish(FRAMES, camera_id, frame(camera_id, seq, data, at),
                                  event_id=f"{camera_id}:{seq}")
    deadline = asyncio.get_running_loop().time() + 120
    while sum(service.frames.values()) < before + len(datas):
        assert asyncio.get_running_loop().time() < deadline, dict(service.frames)
        await asyncio.sleep(0.05)


async def matches(bus: MemoryBus) -> list[FaceMatched]:
    return [FaceMatched.FromString(r.value) for r in await bus.read_all(FACES.name)]


def faces_of(engine, data: bytes, min_px: int = 40) -> np.ndarray:
    image = working_size(decode(data))
    found = [f for f in engine.detect(image) if f.size_px >= min_px]
    return engine.embed(image, found)


def close_runs(blob: bytes, probes: np.ndarray) -> float:
    """Highest cosine between any probe and any run of 128 float32 values in `blob`, at every
    byte alignment: finds an embedding stored raw, whatever the offset."""
    best = -1.0
    dim = probes.shape[1]
    for offset in range(4):
        usable = (len(blob) - offset) // 4 * 4
        if usable < 4 * dim:
            continue
        values = np.frombuffer(blob[offset:offset + usable], np.float32)
        with np.errstate(all="ignore"):
            windows = np.lib.stride_tricks.sliding_window_view(values, dim)
            windows = np.nan_to_num(windows, nan=0.0, posinf=0.0, neginf=0.0)
            norms = np.linalg.norm(windows, axis=1)
            scores = (windows @ probes.T) / np.maximum(norms, 1e-12)[:, None]
        best = max(best, float(np.nanmax(scores)))
    return best


async def test_enrolled_people_match_strangers_do_not_and_nothing_of_strangers_is_kept(
        face, photos, engine, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    service: FaceApp = face.services[0].app
    client = stub(face)
    obama = await enrol(client, photos, [OBAMA, "face_recognition/obama_partial_face.jpg"],
                        "Volunteer A")
    jesper = await enrol(client, photos, [JESPER], "Volunteer B")
    assert obama.photos_used == 2 and jesper.photos_used == 1
    who = {obama.subject_id: "obama", jesper.subject_id: "jesper"}

    clip = [frame_of(photos / f) for f, _ in CLIP]
    await play(face, "cam-massena", clip)

    found = await matches(face.bus)
    by_frame = {(m.frame_id, who[m.subject_id]) for m in found}
    expected = {(f"cam-massena:{k}", person) for k, (_, person) in enumerate(CLIP) if person}
    assert by_frame == expected  # they match, on their frames only; strangers do not
    assert all(m.score >= m.threshold == pytest.approx(service.threshold) for m in found)
    assert all(m.model_id.startswith("yunet-2023mar+sface-2021dec@") for m in found)
    assert all(0 <= m.face_box.x_min < m.face_box.x_max <= 1 for m in found)
    assert service.faces["unmatched"] >= 10  # strangers were seen, and dropped
    # every match is an audit event, on a valid chain
    audit = await read_audit(face.bus)
    assert {r.event_id for r in audit if r.action == AUDIT_ACTION_MATCH} == {m.match_id
                                                                             for m in found}
    assert sum(r.action == AUDIT_ACTION_ENROLMENT for r in audit) == 2
    assert all(v.valid for v in verify_records(audit).values())

    # Invariant 2: the embeddings of the strangers' faces are nowhere: not on any topic, not in
    # the logs, not in the data dir. Probes recomputed here with the same models and input.
    templates = np.stack([faces_of(engine, (photos / f).read_bytes(), 64)[0]
                          for f in (OBAMA, JESPER)])
    strangers = []
    for data in clip:
        probes = faces_of(engine, data)
        keep = [p for p in probes if float(np.max(templates @ p)) < service.threshold]
        strangers.extend(keep)
    strangers = np.stack(strangers)
    assert len(strangers) == service.faces["unmatched"] >= 10
    blobs: list[tuple[str, bytes]] = []
    for topic in REGISTRY:
        for name in (topic.name, topic.dlq):
            for record in await face.bus.read_all(name):
                blobs.append((name, (record.key or b"") + (record.value or b"")
                              + b"".join(v for _, v in record.headers)))
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            blobs.append((str(path), path.read_bytes()))
    blobs.append(("logs", caplog.text.encode()))
    worst = max((close_runs(blob, strangers), where) for where, blob in blobs)
    assert worst[0] < 0.9, worst  # random data and JPEG bytes stay far below
    # the enrolled templates are encrypted at rest too: not in clear on the topic or on disk
    assert max(close_runs(blob, templates) for _, blob in blobs) < 0.9
    text = caplog.text
    for p in strangers[:5]:
        assert f"{p[0]:.4f}" not in text or f"{p[1]:.4f}" not in text


async def test_an_unauthorised_camera_and_no_biometrics_mode_process_no_face(face, photos,
                                                                            tmp_path):
    service: FaceApp = face.services[0].app
    client = stub(face)
    await enrol(client, photos, [OBAMA], "Volunteer A")
    calls = 0
    run = service.pool.run

    async def counting(fn, *args):
        nonlocal calls
        calls += 1
        return await run(fn, *args)

    service.pool.run = counting  # type: ignore[method-assign]
    obama2 = frame_of(photos / "face_recognition/obama2.jpg")
    await play(face, "cam-gare", [obama2])  # no face-matching purpose
    await play(face, "cam-massena", [obama2], 10, at=WINDOW[1] + timedelta(minutes=1))
    await play(face, "cam-unknown", [obama2], 20)
    assert calls == 0  # no face detected, let alone embedded
    assert await matches(face.bus) == []
    assert service.frames["skipped: camera not authorised for face matching"] == 1
    assert service.frames["skipped: outside the authorisation window"] == 1
    assert service.frames["skipped: unknown camera"] == 1

    # no-biometrics mode: nothing loaded, nothing decrypted, every frame refused, RPCs refused
    bus = MemoryBus("face-nobio")
    off = await start(["face"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path / "n",
                                             no_biometrics=True), bus)
    try:
        nobio: FaceApp = off.services[0].app
        await (await bus.publish(CAMERAS, "cam-massena", camera("cam-massena")))
        await play(off, "cam-massena", [obama2])
        assert nobio.pool is None and nobio.watchlist.index is None
        assert nobio.frames == {"skipped: no-biometrics mode": 1}
        assert off.status()["no_biometrics"] is True
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await enrol(stub(off), photos, [OBAMA], "Volunteer A")
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert await matches(bus) == []
    finally:
        await off.stop()


async def test_expired_and_erased_subjects_stop_matching_and_replicas_agree(face, photos,
                                                                           tmp_path):
    service: FaceApp = face.services[0].app
    client = stub(face)
    short = await enrol(client, photos, [OBAMA], "Volunteer A", NOW + timedelta(hours=1))
    jesper = await enrol(client, photos, [JESPER], "Volunteer B")
    obama2 = frame_of(photos / "face_recognition/obama2.jpg")
    jesper_frame = frame_of(photos / "kphotoalbum/bar55_2.jpg")
    await play(face, "cam-massena", [obama2, jesper_frame])
    assert {m.subject_id for m in await matches(face.bus)} == {short.subject_id,
                                                                jesper.subject_id}

    # two hours later the first consent has expired: no match, even replaying a frame taken
    # while it was valid; the expiry is audited, then (purge after 0 days) the entry erased
    service.clock = lambda: NOW + timedelta(hours=2)
    await play(face, "cam-massena", [obama2], 10, at=NOW + timedelta(minutes=10))
    assert len(await matches(face.bus)) == 2
    await service.check_expiry()
    audit = await read_audit(face.bus)
    assert [r.subject_ref for r in audit if r.action == AUDIT_ACTION_EXPIRY] == [
        f"subject:{short.subject_id}"]
    assert service.watchlist.get(short.subject_id) is None

    # erasure: tombstone on the topic, key destroyed, no match any more
    entry = service.watchlist.get(jesper.subject_id)
    key_file = tmp_path / "face/keys" / f"{entry.key_id}.key"
    assert key_file.is_file()
    erased = await client.Erase(pb.EraseRequest(subject_id=jesper.subject_id,
                                                reason="withdrew consent"),
                                metadata=OPERATOR, timeout=30)
    assert erased.erased_at.seconds > 0
    assert not key_file.exists()
    latest = {r.key.decode(): r.value for r in await face.bus.read_all(WATCHLIST.name)}
    assert latest[jesper.subject_id] is None and latest[short.subject_id] is None
    await play(face, "cam-massena", [jesper_frame], 20, at=NOW + timedelta(hours=2))
    assert len(await matches(face.bus)) == 2
    erasures = [r for r in await read_audit(face.bus) if r.action == AUDIT_ACTION_ERASURE]
    assert {r.actor for r in erasures} == {"service:face", "operator:op-alice"}
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await client.Erase(pb.EraseRequest(subject_id=jesper.subject_id, reason="again"),
                           metadata=OPERATOR, timeout=30)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND

    # the old encrypted template is still in the topic's history until compaction, but its key
    # is gone: a new replica sharing the key store cannot read it
    third = await enrol(client, photos, [OBAMA], "Volunteer C")
    replica_bus = face.bus
    replica = await start(["face"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path,
                                                 instance="replica-2", audit_replica="1"),
                          replica_bus)
    try:
        other: FaceApp = replica.services[0].app
        assert sorted(t.subject_id for t in other.watchlist.index.templates()) == [
            third.subject_id]
    finally:
        await replica.stop()


async def test_enrolment_and_verify_refuse_bad_input_with_clear_errors(face, photos):
    client = stub(face)
    good = (photos / OBAMA).read_bytes()

    async def refused(request, method="Enroll", metadata=OPERATOR):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await getattr(client, method)(request, metadata=metadata, timeout=60)
        return error.value.code(), error.value.details()

    def req(photo: bytes, **fields) -> pb.EnrollRequest:
        base = {"display_name": "Volunteer A", "category": WATCHLIST_CATEGORY_VOLUNTEER,
                "consent": consent(NOW + timedelta(days=30)), "photos": [photo]}
        return pb.EnrollRequest(**{**base, **fields})

    tiny = jpeg(np.full((24, 24, 3), 128, np.uint8))
    cases = [
        (req((photos / "kphotoalbum/snow.jpg").read_bytes()), "photo 0: no face found"),
        (req((photos / "insightface/t1.jpg").read_bytes()),
         "photo 0: 6 faces found, exactly one is needed"),
        (req(tiny), "photo 0: image too small (24x24"),
        (req(good[: len(good) // 3] + b"\x00" * 100), "photo 0: not a decodable JPEG"),
        (req(b"GIF89a not a photo"), "photo 0: not a decodable JPEG"),
        (req(good, photos=[good, (photos / "face_recognition/biden.jpg").read_bytes()]),
         "photos 0 and 1 do not show the same person"),
        (req(good, consent=ConsentRecord(legal_basis=LEGAL_BASIS_CONSENT)),
         "consent.reference is required"),
        (req(good, consent=consent(NOW - timedelta(days=1))), "consent.expires_at is in the past"),
        (req(good, category=WATCHLIST_CATEGORY_WANTED), "legal basis consent does not allow "
                                                         "the category wanted"),
        (req(good, display_name=""), "display_name is required"),
        (req(good, photos=[]), "photos: at least one photo is required"),
    ]
    for request, message in cases:
        code, details = await refused(request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert message in details, details
    code, details = await refused(req(good), metadata=())
    assert code == grpc.StatusCode.UNAUTHENTICATED and "vigie-operator" in details
    code, details = await refused(pb.EraseRequest(subject_id="subj-" + "0" * 24, reason="x"),
                                  "Erase")
    assert code == grpc.StatusCode.NOT_FOUND and "unknown subject" in details
    code, _ = await refused(pb.EraseRequest(subject_id="../etc", reason="x"), "Erase")
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    wanted = await client.Enroll(req(good, category=WATCHLIST_CATEGORY_WANTED,
                                     consent=consent(NOW + timedelta(days=30),
                                                     LEGAL_BASIS_JUDICIAL_ORDER, "JI-2026-77")),
                                 metadata=OPERATOR, timeout=60)
    assert wanted.photos_used == 1

    same = await client.Verify(pb.VerifyRequest(photo_a=good, photo_b=(
        photos / "face_recognition/obama2.jpg").read_bytes()), metadata=OPERATOR, timeout=60)
    other = await client.Verify(pb.VerifyRequest(photo_a=good, photo_b=(
        photos / "face_recognition/biden.jpg").read_bytes()), metadata=OPERATOR, timeout=60)
    assert same.same and same.score > 0.6 and not other.same and other.score < same.threshold
    code, details = await refused(pb.VerifyRequest(photo_a=good, photo_b=tiny), "Verify")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("photo_b: image too")

    listing = await client.ListSubjects(pb.ListSubjectsRequest(), metadata=OPERATOR, timeout=30)
    assert [s.subject_id for s in listing.subjects] == [wanted.subject_id]
    subject = listing.subjects[0]
    assert subject.consent.enrolled_by == "op-alice" and subject.consent.reference == "JI-2026-77"
    assert not hasattr(subject, "encrypted_template")  # never templates
    record = await face.bus.read_all(WATCHLIST.name)
    entry = WatchlistEntry.FromString(record[-1].value)
    assert entry.key_id and len(entry.encrypted_template) == 12 + 512 + 16  # nonce, 128 x f32, tag


async def test_archive_search_needs_an_authorisation_is_audited_and_finds_the_person(face,
                                                                                   photos):
    client = stub(face)
    clip = [frame_of(photos / f) for f, _ in CLIP]
    await play(face, "cam-massena", clip)  # empty watchlist: no face processed on the way
    request = pb.SearchArchiveRequest(
        authorisation_reference="JI-2026-77", camera_ids=["cam-massena"],
        probe_photo=(photos / OBAMA).read_bytes())
    request.time_range.start.FromDatetime(NOW)
    request.time_range.end.FromDatetime(NOW + timedelta(minutes=5))
    responses = [r async for r in client.SearchArchive(request, metadata=OPERATOR, timeout=120)]
    hits = [r.hit for r in responses if r.HasField("hit")]
    assert sorted(h.evidence.uri.startswith("kafka:vigie.frames.v1/") for h in hits) == [True] * 2
    assert sorted(h.captured_at.ToDatetime(UTC) for h in hits) == [NOW, NOW + timedelta(seconds=1)]
    progress = [r.progress for r in responses if r.HasField("progress")]
    assert progress[-1].items_scanned == progress[-1].items_total == len(CLIP)
    searches = [r for r in await read_audit(face.bus) if r.action == AUDIT_ACTION_SEARCH]
    assert searches[0].details["authorisation_reference"] == "JI-2026-77"
    assert searches[-1].details["hits"] == "2"

    request.authorisation_reference = ""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in client.SearchArchive(request, metadata=OPERATOR, timeout=60):
            pass
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "authorisation_reference is required" in refused.value.details()
    request.authorisation_reference = "JI-2026-77"
    request.min_score = 0.05
    with pytest.raises(grpc.aio.AioRpcError) as low:
        async for _ in client.SearchArchive(request, metadata=OPERATOR, timeout=60):
            pass
    assert "faces that match nobody are never returned" in low.value.details()


def test_on_kafka_the_service_refuses_to_generate_its_own_master_key(tmp_path, monkeypatch):
    from vigie_core.service import ServiceContext

    monkeypatch.setattr(FaceService, "distributed", property(lambda self: True))
    service = FaceService(ServiceContext(CoreSettings(data_dir=tmp_path), MemoryBus()),
                          FaceService.settings_class())
    with pytest.raises(RuntimeError, match="VIGIE_FACE_MASTER_KEY_FILE is required"):
        service.app.open_keystore()
    assert not (tmp_path / "face").exists()


async def test_archive_search_in_a_citizen_video_checks_the_evidence_and_finds_the_person(
        face, photos, tmp_path):
    import hashlib

    import cv2
    from vigie.common.v1.common_pb2 import EvidenceRef

    evidence = tmp_path / "evidence" / "citizen"
    evidence.mkdir(parents=True)
    video = evidence / "r-1.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 4, (960, 540))
    segments = ["face_recognition/obama2.jpg", "face_recognition/biden.jpg",
                "face_recognition/obama3.jpg"]
    for name in segments:  # 2 s each
        image = cv2.imdecode(np.frombuffer(frame_of(photos / name), np.uint8), cv2.IMREAD_COLOR)
        for _ in range(8):
            writer.write(image)
    writer.release()
    digest = hashlib.sha256(video.read_bytes()).hexdigest()

    def request(uri: str, sha: str) -> pb.SearchArchiveRequest:
        ref = EvidenceRef(uri=uri, sha256=sha, media_type="video/mp4")
        ref.captured_at.FromDatetime(NOW)
        r = pb.SearchArchiveRequest(authorisation_reference="JI-2026-77",
                                    probe_photo=(photos / OBAMA).read_bytes(),
                                    videos=[pb.ArchivedVideo(camera_id="citizen", evidence=ref)])
        r.time_range.start.FromDatetime(NOW)
        r.time_range.end.FromDatetime(NOW + timedelta(seconds=5))  # the last second is outside
        return r

    client = stub(face)
    responses = [r async for r in client.SearchArchive(request(video.as_uri(), digest),
                                                       metadata=OPERATOR, timeout=120)]
    hits = [r.hit for r in responses if r.HasField("hit")]
    seconds = sorted((h.captured_at.ToDatetime(UTC) - NOW).total_seconds() for h in hits)
    assert seconds and all(s < 2 or 4 <= s < 5 for s in seconds), seconds  # never on Biden
    assert any(s < 2 for s in seconds) and any(4 <= s < 5 for s in seconds)
    assert {h.camera_id for h in hits} == {"citizen"} and hits[0].evidence.sha256 == digest
    for uri, sha, message in ((video.as_uri(), "0" * 64, "sha256 does not match"),
                              ((photos / OBAMA).as_uri(), "", "not inside the evidence store"),
                              ("https://example.org/v.mp4", "", "only file:// URIs")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in client.SearchArchive(request(uri, sha), metadata=OPERATOR,
                                                timeout=60):
                pass
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in refused.value.details()

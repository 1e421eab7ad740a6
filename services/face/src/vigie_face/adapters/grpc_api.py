"""FaceService over gRPC: Enroll, Erase, ListSubjects, Verify, SearchArchive.

Callers need the watchlist role (`ROLES`, enforced by vigie_core's interceptor). The operator
(who enrolled, who searched: the audit trail and the consent record carry it) is the caller
when a person calls; a machine caller (a client token or certificate with the watchlist role,
e.g. a case-management system) must name the person it acts for in the `vigie-operator`
metadata, and the audit record keeps the machine as `via`. Request messages are capped at
MAX_MESSAGE_BYTES (enrolment photos included).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from typing import Any, NoReturn

import grpc
import numpy as np
from vigie.audit.v1.audit_pb2 import AUDIT_ACTION_SEARCH
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.face.v1 import face_service_pb2 as pb
from vigie.face.v1 import face_service_pb2_grpc as pb_grpc
from vigie_core.auth.model import Role, actor_of, roles
from vigie_core.auth.rpc import current_identity, declared_operator
from vigie_core.topics import FRAMES
from vigie_face import metrics
from vigie_face.adapters import archive
from vigie_face.adapters.images import ImageError, embed_single, working_size
from vigie_face.app import FaceApp
from vigie_face.domain.consent import CAMERA_ID, enrolment_problems, is_expired
from vigie_face.domain.watchlist import mean_template

OPERATOR = re.compile(r"^[A-Za-z0-9._@:-]{1,64}$")
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
ROLES = {name: roles(Role.WATCHLIST)
         for name in ("Enroll", "Erase", "ListSubjects", "Verify", "SearchArchive")}
SUBJECT_ID = re.compile(r"^subj-[0-9a-f]{24}$")
MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_HITS = 1000
DEFAULT_HITS = 100
PROGRESS_EVERY_S = 1.0


class FaceServicer(pb_grpc.FaceServiceServicer):
    def __init__(self, app: FaceApp) -> None:
        self.app = app

    # -- helpers ---------------------------------------------------------------------------------
    async def _fail(self, context: grpc.aio.ServicerContext, method: str,
                    code: grpc.StatusCode, message: str) -> NoReturn:
        metrics.RPCS.labels(method, code.name).inc()
        await context.abort(code, message)
        raise AssertionError("unreachable")

    async def _operator(self, context: grpc.aio.ServicerContext, method: str) -> str:
        """The person the call is for (see the module docstring)."""
        identity = current_identity()
        declared = declared_operator(context)
        actor = actor_of(identity, declared)
        if identity is not None and identity.person and actor is None:
            await self._fail(context, method, grpc.StatusCode.PERMISSION_DENIED,
                             "vigie-operator must be the caller's own login")
        if actor is None or not OPERATOR.match(actor.name) or (
                identity is not None and not identity.person and not declared):
            await self._fail(context, method, grpc.StatusCode.UNAUTHENTICATED,
                             "say who you are: metadata 'vigie-operator' (letters, digits, "
                             "._@:-, at most 64) is required on every FaceService call made "
                             "by a machine credential")
        assert actor is not None
        return actor.name

    @staticmethod
    def _via() -> dict[str, str]:
        """Audit details naming the machine that relayed a person's call."""
        identity = current_identity()
        return {"via": identity.name} if identity is not None and not identity.person else {}

    async def _biometrics(self, context: grpc.aio.ServicerContext, method: str) -> None:
        if self.app.no_biometrics:
            await self._fail(context, method, grpc.StatusCode.FAILED_PRECONDITION,
                             "no-biometrics mode (VIGIE_NO_BIOMETRICS): face processing is "
                             "disabled")
        if self.app.pool is None:
            await self._fail(context, method, grpc.StatusCode.UNAVAILABLE,
                             "face models still loading")

    async def _embed(self, context: grpc.aio.ServicerContext, method: str, data: bytes,
                     what: str, min_face_px: int) -> Any:
        app = self.app
        assert app.pool is not None
        try:
            return await app.pool.run(embed_single, data, app.config.enrol_min_image_px,
                                          min_face_px)
        except ImageError as exc:
            await self._fail(context, method, grpc.StatusCode.INVALID_ARGUMENT,
                             f"{what}: {exc}")

    # -- RPCs ------------------------------------------------------------------------------------
    async def Enroll(self, request: pb.EnrollRequest,
                     context: grpc.aio.ServicerContext) -> pb.EnrollResponse:
        method = "Enroll"
        operator = await self._operator(context, method)
        await self._biometrics(context, method)
        app = self.app
        config = app.config
        problems = enrolment_problems(request.display_name, request.category, request.consent,
                                      list(request.camera_ids), app.clock(),
                                      timedelta(days=config.max_validity_days))
        if not request.photos:
            problems.append("photos: at least one photo is required")
        elif len(request.photos) > config.enrol_max_photos:
            problems.append(f"photos: at most {config.enrol_max_photos}")
        if problems:
            await self._fail(context, method, grpc.StatusCode.INVALID_ARGUMENT,
                             "; ".join(problems))
        vectors = [await self._embed(context, method, photo, f"photo {i}",
                                     config.enrol_min_face_px)
                   for i, photo in enumerate(request.photos)]
        for i in range(len(vectors)):
            for j in range(i + 1, len(vectors)):
                score = float(vectors[i] @ vectors[j])
                if score < app.threshold:
                    await self._fail(context, method, grpc.StatusCode.INVALID_ARGUMENT,
                                     f"photos {i} and {j} do not show the same person (score "
                                     f"{score:.3f} < threshold {app.threshold:.3f})")
        template = mean_template(vectors)
        for v in vectors:
            v.fill(0.0)
        entry = await app.enrol(request.display_name, request.category, request.consent,
                                    list(request.camera_ids), template, len(vectors), operator,
                                    via=self._via())
        template.fill(0.0)
        metrics.RPCS.labels(method, "OK").inc()
        return pb.EnrollResponse(subject_id=entry.subject_id, photos_used=len(vectors))

    async def Erase(self, request: pb.EraseRequest,
                    context: grpc.aio.ServicerContext) -> pb.EraseResponse:
        method = "Erase"
        operator = await self._operator(context, method)
        if not SUBJECT_ID.match(request.subject_id):
            await self._fail(context, method, grpc.StatusCode.INVALID_ARGUMENT,
                             f"subject_id {request.subject_id!r} is not a subject id")
        if not request.reason.strip():
            await self._fail(context, method, grpc.StatusCode.INVALID_ARGUMENT,
                             "reason is required (it goes to the audit trail)")
        if self.app.watchlist.get(request.subject_id) is None:
            await self._fail(context, method, grpc.StatusCode.NOT_FOUND,
                             f"unknown subject {request.subject_id} (never enrolled, or "
                             "already erased)")
        erased = await self.app.erase(request.subject_id, request.reason,
                                          f"operator:{operator}", via=self._via())
        response = pb.EraseResponse()
        response.erased_at.FromDatetime(erased)
        metrics.RPCS.labels(method, "OK").inc()
        return response

    async def ListSubjects(self, request: pb.ListSubjectsRequest,
                           context: grpc.aio.ServicerContext) -> pb.ListSubjectsResponse:
        method = "ListSubjects"
        await self._operator(context, method)
        if request.page_size < 0 or request.page_size > MAX_PAGE:
            await self._fail(context, method, grpc.StatusCode.INVALID_ARGUMENT,
                             f"page_size must be within 0..{MAX_PAGE}")
        size = request.page_size or DEFAULT_PAGE
        now = self.app.clock()
        categories = set(request.categories)
        chosen = [e for e in self.app.watchlist
                  if (not categories or e.category in categories)
                  and (request.include_expired or not is_expired(e.consent, now))
                  and e.subject_id > request.page_token]
        page = chosen[:size]
        response = pb.ListSubjectsResponse(
            next_page_token=page[-1].subject_id if len(chosen) > size else "")
        for e in page:
            subject = response.subjects.add(subject_id=e.subject_id, display_name=e.display_name,
                                            category=e.category,
                                            template_model_id=e.template_model_id,
                                            camera_ids=list(e.camera_ids))
            subject.consent.CopyFrom(e.consent)
        metrics.RPCS.labels(method, "OK").inc()
        return response

    async def Verify(self, request: pb.VerifyRequest,
                     context: grpc.aio.ServicerContext) -> pb.VerifyResponse:
        method = "Verify"
        operator = await self._operator(context, method)
        await self._biometrics(context, method)
        app = self.app
        px = app.config.enrol_min_face_px
        a = await self._embed(context, method, request.photo_a, "photo_a", px)
        b = await self._embed(context, method, request.photo_b, "photo_b", px)
        score = float(a @ b)
        a.fill(0.0)
        b.fill(0.0)
        same = score >= app.threshold
        assert app.engine is not None
        await app.audit.record(AUDIT_ACTION_SEARCH, "verification",
                                   actor=f"operator:{operator}",
                                   details={**self._via(), "kind": "verify 1:1",
                                            "same": str(same).lower(),
                                            "score": f"{score:.4f}",
                                            "model_id": app.engine.model_id})
        metrics.RPCS.labels(method, "OK").inc()
        return pb.VerifyResponse(score=score, threshold=app.threshold, same=same,
                                 model_id=app.engine.model_id)

    async def SearchArchive(self, request: pb.SearchArchiveRequest,
                            context: grpc.aio.ServicerContext
                            ) -> AsyncIterator[pb.SearchArchiveResponse]:
        method = "SearchArchive"
        operator = await self._operator(context, method)
        await self._biometrics(context, method)
        app = self.app
        problems = []
        if not request.authorisation_reference.strip():
            problems.append("authorisation_reference is required (the act authorising this "
                            "search)")
        if not request.camera_ids and not request.videos:
            problems.append("camera_ids: at least one camera (or one archived video)")
        bad = [c for c in [*request.camera_ids, *(v.camera_id for v in request.videos)]
               if not CAMERA_ID.match(c)]
        if bad:
            problems.append(f"camera id {bad[0]!r} is not a camera id")
        window = request.time_range
        if not (window.HasField("start") and window.HasField("end")):
            problems.append("time_range with start and end is required")
        elif window.end.ToDatetime(UTC) <= window.start.ToDatetime(UTC):
            problems.append("time_range: end must be after start")
        min_score = request.min_score or app.threshold
        if min_score < app.threshold or min_score > 1:
            problems.append(f"min_score must be within [{app.threshold:.3f}, 1]: scores "
                            "below the model threshold are not matches, and faces that match "
                            "nobody are never returned")
        if request.max_hits > MAX_HITS:
            problems.append(f"max_hits at most {MAX_HITS}")
        if problems:
            await self._fail(context, method, grpc.StatusCode.INVALID_ARGUMENT,
                             "; ".join(problems))
        videos = []
        for video in request.videos:
            try:
                videos.append((video, archive.video_path(video, app.evidence_root)))
            except archive.ArchiveError as exc:
                await self._fail(context, method, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        probe = await self._embed(context, method, request.probe_photo, "probe_photo",
                                  app.config.enrol_min_face_px)
        start, end = window.start.ToDatetime(UTC), window.end.ToDatetime(UTC)
        search_id = f"search-{time.time_ns():x}"
        await app.audit.record(AUDIT_ACTION_SEARCH, f"search:{search_id}",
                                   event_id=search_id, actor=f"operator:{operator}", details={
                                       **self._via(),
                                       "authorisation_reference": request.authorisation_reference,
                                       "cameras": ",".join(request.camera_ids),
                                       "videos": ",".join(v.evidence.sha256 or v.evidence.uri
                                                          for v in request.videos),
                                       "from": window.start.ToJsonString(),
                                       "to": window.end.ToJsonString(),
                                       "min_score": f"{min_score:.4f}"})
        max_hits = request.max_hits or DEFAULT_HITS
        limit = app.config.archive_max_items
        records = await app.bus.read_all(FRAMES.name) if request.camera_ids else []
        frames = archive.frame_items(records, set(request.camera_ids), start, end)[:limit]
        del records
        total = len(frames) + sum(_estimate(p, app.config.archive_sample_fps, start, end, v)
                                  for v, p in videos)
        scanned = hits = 0
        last = time.monotonic()
        yield pb.SearchArchiveResponse(progress=pb.SearchProgress(items_scanned=0,
                                                                  items_total=total))
        try:
            async for camera_id, at, image, evidence in _items(frames, videos, app, start,
                                                                end, limit):
                scanned += 1
                image = working_size(image)
                for face, score in await _best(app, image, probe, min_score):
                    hit = pb.SearchHit(camera_id=camera_id, score=score)
                    hit.captured_at.FromDatetime(at)
                    height, width = image.shape[:2]
                    box = face.normalised_box(width, height)
                    hit.face_box.CopyFrom(BoundingBox(x_min=box[0], y_min=box[1], x_max=box[2],
                                                      y_max=box[3]))
                    hit.evidence.CopyFrom(evidence)
                    hits += 1
                    yield pb.SearchArchiveResponse(hit=hit)
                    if hits >= max_hits:
                        break
                if hits >= max_hits or scanned >= limit:
                    break
                if time.monotonic() - last >= PROGRESS_EVERY_S:
                    last = time.monotonic()
                    yield pb.SearchArchiveResponse(progress=pb.SearchProgress(
                        items_scanned=scanned, items_total=max(total, scanned)))
        finally:
            probe.fill(0.0)
            await app.audit.record(AUDIT_ACTION_SEARCH, f"search:{search_id}",
                                       event_id=f"{search_id}/done",
                                       actor=f"operator:{operator}",
                                       details={**self._via(),
                                                "items_scanned": str(scanned),
                                                "hits": str(hits)})
        yield pb.SearchArchiveResponse(progress=pb.SearchProgress(
            items_scanned=scanned, items_total=max(total, scanned)))
        metrics.RPCS.labels(method, "OK").inc()


def _estimate(path: Any, fps: float, start: Any, end: Any, video: Any) -> int:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        frames = capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0
        rate = capture.get(cv2.CAP_PROP_FPS) or 25
    finally:
        capture.release()
    return int(frames / rate * fps) + 1 if frames else 0


async def _items(frames: list[archive.Item], videos: list[Any], app: FaceApp,
                 start: Any, end: Any, limit: int) -> AsyncIterator[tuple[str, Any, Any, Any]]:
    for item in frames:
        image = item.load()  # type: ignore[operator]
        if image is not None:
            yield item.camera_id, item.captured_at, image, item.evidence
    for video, path in videos:
        iterator = archive.video_frames(path, video, app.config.archive_sample_fps, start,
                                        end, limit)
        while True:
            got: tuple[Any, Any] | None = await asyncio.to_thread(next, iterator, None)
            if got is None:
                break
            yield video.camera_id, got[0], got[1], video.evidence


async def _best(app: FaceApp, image: Any, probe: Any,
                min_score: float) -> list[tuple[Any, float]]:
    """Faces of the image that reach min_score against the probe; the others' embeddings are
    dropped in the worker."""
    assert app.pool is not None
    min_px = app.config.min_face_px

    def work(engine: Any, image: Any) -> list[tuple[Any, float]]:
        faces = [f for f in engine.detect(image) if f.size_px >= min_px]
        vectors = engine.embed(image, faces)
        scores = vectors @ np.asarray(probe, np.float32)
        vectors.fill(0.0)
        return [(f, float(s)) for f, s in zip(faces, scores, strict=True) if s >= min_score]

    return await app.pool.run(work, image)


def add_to_server(servicer: FaceServicer, server: grpc.aio.Server) -> None:
    pb_grpc.add_FaceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["FaceService"].full_name

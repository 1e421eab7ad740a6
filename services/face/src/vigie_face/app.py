"""The face use cases: frames of face-authorised cameras -> YuNet faces -> SFace (or dlib)
embeddings -> 1:N search of the watchlist index -> FaceMatched for matches only, each audited;
enrolment, erasure and expiry of watchlist entries (behind FaceService, adapters/grpc_api.py).

The watchlist is event-sourced on the compacted topic vigie.watchlist.v1: Enroll publishes an
entry (consent record + template encrypted with a per-subject key), Erase a tombstone plus the
key's destruction; every replica rebuilds its index from the topic. Embeddings of faces that
match nothing are compared in memory and dropped (privacy invariant 2).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from vigie.audit.v1.audit_pb2 import (
    AUDIT_ACTION_ENROLMENT,
    AUDIT_ACTION_ERASURE,
    AUDIT_ACTION_EXPIRY,
    AUDIT_ACTION_MATCH,
)
from vigie.camera.v1.camera_pb2 import Camera
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.face.v1.face_match_pb2 import FaceMatched
from vigie.face.v1.watchlist_pb2 import ConsentRecord, WatchlistEntry
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.audit import AuditLog
from vigie_core.bus.base import Bus
from vigie_core.codec import DecodeError, Event, decode
from vigie_core.processing import PoisonError
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERAS, FACES, WATCHLIST
from vigie_core.view import CompactedView

from vigie_face import metrics
from vigie_face.adapters.engine import EngineOptions, EnginePool, Face, FaceEngine, Image
from vigie_face.adapters.factory import resolve
from vigie_face.adapters.images import ImageError
from vigie_face.adapters.images import decode as decode_image
from vigie_face.adapters.keystore import (
    FileKeyStore,
    KeyStore,
    encrypt_template,
    generate_master_key,
    load_master_key,
    new_key_id,
)
from vigie_face.adapters.watchlist import WatchlistView
from vigie_face.config import Settings
from vigie_face.domain.authorisation import face_processing_refusal
from vigie_face.domain.consent import basis_name, category_name, is_expired
from vigie_face.domain.evaluation import threshold_for_fmr
from vigie_face.domain.watchlist import WatchlistIndex, match_id, to_us

log = logging.getLogger(__name__)


class FaceApp:
    """Handed the settings, the bus, the audit log (opened on first use), the camera and
    watchlist views, and whether replicas share the bus (Kafka: `distributed`)."""

    def __init__(self, config: Settings, core: CoreSettings, bus: Bus,
                 audit: Callable[[], AuditLog], cameras: CompactedView[Camera],
                 watchlist: WatchlistView, distributed: bool) -> None:
        self.config = config
        self.core = core
        self.bus = bus
        self._audit = audit
        self.cameras = cameras
        self.watchlist = watchlist
        self.distributed = distributed
        self.frames = Counter[str]()
        self.faces = Counter[str]()
        self.pool: EnginePool | None = None
        self.engine: FaceEngine | None = None
        self.keystore: KeyStore | None = None
        self.threshold = 0.0
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._expired_recorded: set[str] = set()

    @property
    def audit(self) -> AuditLog:
        return self._audit()

    @property
    def no_biometrics(self) -> bool:
        return bool(self.core.no_biometrics)

    @property
    def face_dir(self) -> Path:
        return Path(self.core.data_dir) / "face"

    @property
    def evidence_root(self) -> Path:
        return Path(self.core.data_dir) / "evidence"

    def open_keystore(self) -> KeyStore:
        path = self.config.master_key_file
        if path is None:
            if self.distributed:
                raise RuntimeError(
                    "VIGIE_FACE_MASTER_KEY_FILE is required when the face service runs on "
                    "Kafka: every replica must unwrap the same per-subject keys, and the master "
                    "key must not be generated next to them (mount it from a secret)")
            path = self.face_dir / "master.key"
            if not path.exists():
                generate_master_key(path)
                log.warning("generated a new face master key in %s (embedded runtime); back it "
                            "up with the key store, or the watchlist cannot be read", path)
        master = load_master_key(path)
        directory = self.config.keystore_dir or self.face_dir / "keys"
        return FileKeyStore(Path(directory), master)

    async def start(self) -> None:
        """The key store and the models open, the camera and watchlist topics read whole."""
        self.keystore = await asyncio.to_thread(self.open_keystore)
        if not self.no_biometrics:
            config = self.config
            detector, embedder = await asyncio.to_thread(
                resolve, self.core.models_dir, config.embedder, config.allow_downloads)
            options = EngineOptions(config.min_detection_score, 0.3, config.threads)
            self.pool = await asyncio.to_thread(
                EnginePool, lambda: FaceEngine(detector, embedder, options), config.workers,
                config.threads)
            self.engine = self.pool.first
            self.threshold = (config.threshold or
                              threshold_for_fmr(embedder.spec.calibration, config.target_fmr))
            self.watchlist.attach(WatchlistIndex(self.engine.dim), self.keystore,
                                  self.engine.template_model_id)
            log.info("face models %s loaded (%s), threshold %.4f", self.engine.model_id,
                     detector.source, self.threshold)
        else:
            log.info("no-biometrics mode: no face model loaded, no template decrypted")
        # The compacted topics, read whole before serving, so the first frames already see every
        # camera and every watchlist entry (the view stream then keeps both up to date).
        for topic, view in ((CAMERAS, self.cameras), (WATCHLIST, self.watchlist)):
            for record in await self.bus.read_all(topic.name):
                try:
                    event = decode(topic, record.key, record.value, record.headers)
                except DecodeError:
                    continue
                view.apply(event.key or "", event.message)
        await self.audit.start()

    async def stop(self) -> None:
        if self.pool is not None:
            await asyncio.to_thread(self.pool.close)

    def status(self) -> dict[str, Any]:
        return {"no_biometrics": self.no_biometrics, "frames": dict(self.frames),
                "faces": dict(self.faces), "watchlist": self.watchlist_counts(),
                "model_id": self.engine.model_id if self.engine else None,
                "threshold": round(self.threshold, 4) if self.engine else None,
                "target_fmr": self.config.target_fmr if not self.config.threshold else None}

    def watchlist_counts(self) -> dict[str, int]:
        now = self.clock()
        entries = self.watchlist.entries()
        expired = sum(1 for e in entries.values() if is_expired(e.consent, now))
        unusable = len(self.watchlist.unusable)
        counts = {"entries": len(entries), "expired": expired, "unusable": unusable,
                  "active": len(entries) - expired - unusable}
        for state in ("active", "expired", "unusable"):
            metrics.WATCHLIST.labels(state).set(counts[state])
        return counts

    # -- frames ----------------------------------------------------------------------------------
    async def on_frame(self, event: Event[FrameSampled]) -> None:
        frame = event.message
        if frame is None:
            return
        at = frame.captured_at.ToDatetime(UTC)
        refusal = face_processing_refusal(self.cameras.get(frame.camera_id), at,
                                          self.no_biometrics)
        if refusal:
            self.frames["skipped: " + refusal] += 1
            metrics.FRAMES.labels("refused").inc()
            return
        index = self.watchlist.index
        if (index is None or self.pool is None or self.engine is None
                or not index.eligible(frame.camera_id, at, self.clock()).any()):
            # data minimisation: nobody to look for here and now, so no face is even detected
            self.frames["skipped: no watchlist entry for this camera"] += 1
            metrics.FRAMES.labels("no_watchlist").inc()
            return
        try:
            image = decode_image(frame.jpeg)
        except ImageError as exc:
            self.frames["rejected"] += 1
            metrics.FRAMES.labels("rejected").inc()
            raise PoisonError(str(exc)) from None
        started = time.perf_counter()
        faces, probes = await self.pool.run(_analyse, image, self.config.min_face_px)
        metrics.ANALYSIS_SECONDS.observe(time.perf_counter() - started)
        try:
            matches = index.search(probes, frame.camera_id, at, self.clock(), self.threshold)
        finally:
            probes.fill(0.0)  # the probes of non-matches are gone from here on
            del probes
        self.frames["analysed"] += 1
        metrics.FRAMES.labels("analysed").inc()
        embedded = [f for f in faces if f.size_px >= self.config.min_face_px]
        self.faces["too_small"] += len(faces) - len(embedded)
        self.faces["matched"] += len(matches)
        self.faces["unmatched"] += len(embedded) - len(matches)
        metrics.FACES.labels("too_small").inc(len(faces) - len(embedded))
        metrics.FACES.labels("matched").inc(len(matches))
        metrics.FACES.labels("unmatched").inc(len(embedded) - len(matches))
        height, width = image.shape[:2]
        for found in matches:
            face = embedded[found.probe]
            box = face.normalised_box(width, height)
            mid = match_id(frame.frame_id, found.subject_id, box)
            matched = FaceMatched(
                match_id=mid, frame_id=frame.frame_id, camera_id=frame.camera_id,
                subject_id=found.subject_id, category=found.category,  # type: ignore[arg-type]
                score=found.score, threshold=self.threshold,
                face_box=BoundingBox(x_min=box[0], y_min=box[1], x_max=box[2], y_max=box[3]),
                model_id=self.engine.model_id)
            matched.captured_at.CopyFrom(frame.captured_at)
            # audited before it is published: no match leaves without its audit record
            await self.audit.record(AUDIT_ACTION_MATCH, f"subject:{found.subject_id}",
                                    event_id=mid, details={
                                        "camera_id": frame.camera_id, "frame_id": frame.frame_id,
                                        "score": f"{found.score:.4f}",
                                        "threshold": f"{self.threshold:.4f}",
                                        "model_id": self.engine.model_id,
                                        "category": category_name(found.category)},
                                    occurred_at=at)
            await self.bus.publish(FACES, frame.camera_id, matched, event_id=mid, time=at)
            metrics.MATCHES.inc()
            log.info("face match %s on %s", mid, frame.camera_id,
                     extra={"camera_id": frame.camera_id, "event_id": mid})

    # -- watchlist commands (FaceService) ----------------------------------------------------
    async def enrol(self, display_name: str, category: int, consent: ConsentRecord,
                    camera_ids: list[str], template: npt.NDArray[np.float32], photos: int,
                    operator: str, via: dict[str, str] | None = None) -> WatchlistEntry:
        assert self.keystore is not None and self.engine is not None
        subject_id = f"subj-{secrets.token_hex(12)}"
        key_id = new_key_id()
        key = await asyncio.to_thread(self.keystore.create, key_id)
        entry = WatchlistEntry(subject_id=subject_id, display_name=display_name,
                               category=category,  # type: ignore[arg-type]
                               key_id=key_id, template_model_id=self.engine.template_model_id,
                               camera_ids=camera_ids)
        entry.consent.CopyFrom(consent)
        entry.consent.enrolled_by = operator
        entry.consent.enrolled_at.FromDatetime(self.clock())
        entry.encrypted_template = encrypt_template(
            key, np.ascontiguousarray(template, np.float32).tobytes(), subject_id,
            entry.template_model_id)
        del key
        try:
            await (await self.bus.publish(WATCHLIST, subject_id, entry,
                                          event_id=f"enrol/{subject_id}"))
        except BaseException:
            await asyncio.to_thread(self.keystore.destroy, key_id)
            raise
        self.watchlist.apply(subject_id, entry)
        try:
            await self.audit.record(AUDIT_ACTION_ENROLMENT, f"subject:{subject_id}",
                                    event_id=f"enrol/{subject_id}", actor=f"operator:{operator}",
                                    details={
                                        **(via or {}),
                                        "category": category_name(category),
                                        "legal_basis": basis_name(consent.legal_basis),
                                        "reference": consent.reference,
                                        "expires_at": consent.expires_at.ToJsonString(),
                                        "photos_used": str(photos),
                                        "cameras": ",".join(camera_ids) or "all authorised",
                                        "template_model_id": entry.template_model_id})
        except BaseException:
            # an enrolment that cannot be audited does not stand
            await self.erase(subject_id, "enrolment could not be audited", "service:face",
                             audit=False)
            raise
        log.info("subject %s enrolled", subject_id)
        return entry

    async def erase(self, subject_id: str, reason: str, actor: str, *,
                    audit: bool = True, via: dict[str, str] | None = None) -> datetime:
        entry = self.watchlist.get(subject_id)
        await (await self.bus.publish(WATCHLIST, subject_id, None,
                                      event_id=f"erase/{subject_id}"))
        if entry is not None and self.keystore is not None:
            await asyncio.to_thread(self.keystore.destroy, entry.key_id)
        self.watchlist.apply(subject_id, None)
        erased_at = self.clock()
        if audit:
            await self.audit.record(AUDIT_ACTION_ERASURE, f"subject:{subject_id}",
                                    event_id=f"erase/{subject_id}", actor=actor,
                                    details={**(via or {}), "reason": reason,
                                             "key_destroyed":
                                             "yes" if entry is not None else "no entry"})
        log.info("subject %s erased", subject_id)
        return erased_at

    # -- expiry ----------------------------------------------------------------------------------
    async def expiry_loop(self) -> None:
        while True:
            try:
                await self.check_expiry()
            except Exception:
                log.exception("expiry check failed")
            await asyncio.sleep(self.config.expiry_check_s)

    async def check_expiry(self) -> None:
        """Audit entries that expired (they already stopped matching at their expiry), and erase
        those expired for longer than expired_purge_days."""
        now = self.clock()
        purge_after = timedelta(days=self.config.expired_purge_days)
        for entry in list(self.watchlist):
            if not is_expired(entry.consent, now):
                continue
            expires = entry.consent.expires_at.ToDatetime(UTC)
            marker = f"expiry/{entry.subject_id}/{to_us(expires)}"
            if marker not in self._expired_recorded:
                await self.audit.record(AUDIT_ACTION_EXPIRY, f"subject:{entry.subject_id}",
                                        event_id=marker, details={
                                            "expires_at": entry.consent.expires_at.ToJsonString(),
                                            "category": category_name(entry.category)})
                self._expired_recorded.add(marker)
            if now - expires >= purge_after:
                await self.erase(entry.subject_id, "consent or legal basis expired",
                                 "service:face")


def _analyse(engine: FaceEngine, image: Image,
             min_face_px: int) -> tuple[list[Face], npt.NDArray[np.float32]]:
    """Faces of a frame, and the embeddings of those big enough (worker thread)."""
    faces = engine.detect(image)
    big = [f for f in faces if f.size_px >= min_face_px]
    return faces, engine.embed(image, big)

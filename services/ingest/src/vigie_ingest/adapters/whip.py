"""Citizen live video over WHIP (WebRTC-HTTP Ingestion Protocol, RFC 9725) on aiortc.

POST /ingest/whip?lat=..&lon=..&text=..&reporter=.. with an SDP offer opens a session: the answer
comes back (201, Location: /ingest/whip/<session_id>), a ReportReceived (channel WHIP) is
published, and the video track's frames go through the same sampling, motion gate and JPEG
pipeline as camera frames, published as citizen frames of camera `citizen-<report_id>`.
DELETE on the Location ends the session; so do a failed/closed connection and the duration cap.

No public STUN server is ever asked (iceServers=[]). The answer carries every candidate (ICE
gathering completes before we answer); trickle ICE (PATCH) is not offered.

ICE host addresses: aioice gathers every interface address except 127.0.0.1. `ice_host_addresses`
pins the host candidates to the given addresses instead (e.g. ["127.0.0.1"] for tests and
single-machine demos, or the one address browsers can reach). aioice has no option for this: we
wrap `aioice.ice.get_host_addresses` once, process-wide, and the wrapper only changes its answer
inside a WHIP handler (a ContextVar set around our own setLocalDescription), so any other aioice
user in the process is unaffected. When every pinned address is loopback, the session also drops
non-loopback remote candidates and ignores connectivity checks from non-loopback sources, so
nothing is ever sent to a non-loopback address (a loopback socket has no business talking to
others anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import aioice.ice
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from vigie.camera.v1.camera_pb2 import SOURCE_KIND_CITIZEN
from vigie.common.v1.common_pb2 import GeoPoint
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.ingest.v1.ingest_service_pb2 import UploadMetadata
from vigie.ingest.v1.report_pb2 import ReportChannel, ReportReceived
from vigie_core.auth.model import public
from vigie_core.auth.web import declare

from vigie_ingest import metrics
from vigie_ingest.adapters.citizen import UploadRejected, check_metadata, citizen_camera_id
from vigie_ingest.adapters.runner import FramePipeline, RunnerSettings, frame_event
from vigie_ingest.domain.sampling import FrameGate

log = logging.getLogger(__name__)

SDP = "application/sdp"
MAX_SDP_BYTES = 64 * 1024
RTP_WRAP = 1 << 32

# -- narrow aioice patch: host addresses pinned per WHIP handler -----------------------------------
_PINNED_HOSTS: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "vigie_whip_pinned_hosts", default=None)


def _install_host_address_pinning() -> None:
    original = aioice.ice.get_host_addresses
    if getattr(original, "_vigie_pinning", False):
        return

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        pinned = _PINNED_HOSTS.get()
        if pinned is None:
            return original(use_ipv4, use_ipv6)
        return [a for a in pinned if (use_ipv6 if ":" in a else use_ipv4)]

    get_host_addresses._vigie_pinning = True  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = get_host_addresses


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # an mDNS name (*.local) or garbage: not loopback


def _loopback_only_sdp(sdp: str) -> str:
    """The offer without the candidates a loopback-bound socket could not reach."""
    kept = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            if len(parts) < 6 or not _is_loopback(parts[4]):
                continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"


def _ice_connections(pc: RTCPeerConnection) -> list[Any]:
    """The aioice Connections behind a peer connection (aiortc internals, read-only use)."""
    found = []
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        connection = getattr(getattr(getattr(dtls, "transport", None), "iceGatherer", None),
                             "_connection", None)
        if connection is not None and connection not in found:
            found.append(connection)
    return found


def _ignore_non_loopback_checks(connection: Any) -> None:
    """Drop STUN checks from non-loopback sources before aioice answers or learns them."""
    request_received = connection.request_received

    def guarded(message: Any, addr: tuple[str, int], protocol: Any) -> None:
        if _is_loopback(addr[0]):
            request_received(message, addr, protocol)
        else:
            log.debug("WHIP: ignored an ICE check from non-loopback %s", addr[0])

    connection.request_received = guarded


# -- sessions ------------------------------------------------------------------------------------
class WhipRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class WhipSession:
    session_id: str
    report_id: str
    geo: GeoPoint
    pc: RTCPeerConnection
    started: datetime
    opened_monotonic: float = field(default_factory=time.monotonic)
    frames: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    close_reason: str = ""


PublishFrame = Callable[[FrameSampled], Awaitable[Any]]
PublishReport = Callable[[ReportReceived], Awaitable[Any]]


class WhipIngest:
    """WHIP endpoint: one RTCPeerConnection per citizen stream, bounded in number and duration."""

    def __init__(self, settings: RunnerSettings, publish_frame: PublishFrame,
                 publish_report: PublishReport, *, max_sessions: int = 8,
                 max_duration_s: float = 300.0, ice_host_addresses: Sequence[str] = (),
                 max_sdp_bytes: int = MAX_SDP_BYTES, base_path: str = "/ingest/whip") -> None:
        self.settings = settings
        self.publish_frame, self.publish_report = publish_frame, publish_report
        self.max_sessions, self.max_duration_s = max_sessions, max_duration_s
        self.ice_host_addresses = tuple(str(ipaddress.ip_address(a)) for a in ice_host_addresses)
        self.loopback_only = bool(self.ice_host_addresses) and all(
            _is_loopback(a) for a in self.ice_host_addresses)
        self.max_sdp_bytes = max_sdp_bytes
        self.base_path = base_path.rstrip("/")
        self.sessions: dict[str, WhipSession] = {}
        self._opening = 0
        self._background: set[asyncio.Task[None]] = set()
        self.closed_sessions: dict[str, str] = {}  # the last few ended sessions and why (status)
        if self.ice_host_addresses:
            _install_host_address_pinning()

    # -- HTTP -------------------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        """Mount under /ingest/: POST /whip, DELETE /whip/{session_id}. Public: citizens have
        no account; bounded by the SDP size, the session cap, the duration cap and the
        per-address rate limit of public routes. The session URL (a random 128-bit id) is
        the capability that ends a session."""
        return [declare(web.post("/whip", self.http_offer),
                        public("citizen live video (WHIP offer)",
                               max_body_bytes=self.max_sdp_bytes)),
                declare(web.delete("/whip/{session_id}", self.http_delete),
                        public("ends the caller's own WHIP session: its unguessable URL is "
                               "the capability", max_body_bytes=1024))]

    async def http_offer(self, request: web.Request) -> web.Response:
        try:
            return await self._offer(request)
        except WhipRejected as exc:
            metrics.REJECTED.labels("whip").inc()
            log.info("WHIP offer refused (%d): %s", exc.status, exc)
            headers = {"Retry-After": "30"} if exc.status == 503 else None
            return web.json_response({"error": str(exc)}, status=exc.status, headers=headers)

    async def http_delete(self, request: web.Request) -> web.Response:
        session_id = request.match_info["session_id"]
        session = self.sessions.get(session_id)
        if session is None and session_id in self.closed_sessions:  # ended already: idempotent
            return web.json_response({"session_id": session_id, "already_closed":
                                      self.closed_sessions[session_id]})
        if session is None:
            metrics.REJECTED.labels("whip").inc()
            return web.json_response({"error": "no such WHIP session"}, status=404)
        await self.close(session.session_id, "ended by the client")
        return web.json_response({"session_id": session.session_id,
                                  "report_id": session.report_id, "frames": session.frames})

    # -- the offer --------------------------------------------------------------------------------
    async def _offer(self, request: web.Request) -> web.Response:
        if request.content_type != SDP:
            raise WhipRejected(415, f"Content-Type must be {SDP}, not {request.content_type!r}")
        meta = _metadata(request.query)
        if request.content_length is not None and request.content_length > self.max_sdp_bytes:
            raise WhipRejected(413, f"SDP offer larger than {self.max_sdp_bytes} bytes")
        if len(self.sessions) + self._opening >= self.max_sessions:
            raise WhipRejected(503, f"too many live streams ({self.max_sessions}); retry later "
                                    "or upload the video instead")
        self._opening += 1  # holds a slot while the offer is negotiated
        try:
            body = await request.content.read(self.max_sdp_bytes + 1)
            if len(body) > self.max_sdp_bytes:
                raise WhipRejected(413, f"SDP offer larger than {self.max_sdp_bytes} bytes")
            try:
                offer = body.decode("utf-8")
            except UnicodeDecodeError:
                raise WhipRejected(400, "SDP offer is not UTF-8 text") from None
            if not offer.startswith("v=0") or "m=video" not in offer:
                raise WhipRejected(400, "body is not an SDP offer with a video section")
            session = await self._negotiate(offer, meta.geo)
        finally:
            self._opening -= 1
        report = ReportReceived(report_id=session.report_id, text=meta.text,
                                channel=ReportChannel.REPORT_CHANNEL_WHIP,
                                reporter=meta.reporter[:100])
        report.received_at.FromDatetime(session.started)
        report.geo.CopyFrom(meta.geo)
        try:
            await self.publish_report(report)
        except Exception:
            await self.close(session.session_id, "report not published")
            raise
        metrics.REPORTS.labels("whip").inc()
        log.info("WHIP session %s opened: report %s", session.session_id, session.report_id)
        location = f"{self.base_path}/{session.session_id}"
        return web.Response(status=201, body=session.pc.localDescription.sdp.encode(),
                            content_type=SDP, headers={"Location": location,
                                                       "X-Vigie-Report-Id": session.report_id})

    async def _negotiate(self, offer: str, geo: GeoPoint) -> WhipSession:
        if self.loopback_only:
            offer = _loopback_only_sdp(offer)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        session = WhipSession(session_id=uuid.uuid4().hex,
                              report_id="rpt-whip-" + uuid.uuid4().hex[:16], geo=geo, pc=pc,
                              started=datetime.now(UTC))
        tracks: list[MediaStreamTrack] = []
        pc.on("track", tracks.append)
        try:
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            except Exception as exc:  # aiortc raises ValueError, InvalidAccessError, ...
                raise WhipRejected(400, f"invalid SDP offer: {exc}") from None
            if not any(t.kind == "video" for t in tracks):
                raise WhipRejected(400, "the offer sends no video track")
            if self.loopback_only:
                for connection in _ice_connections(pc):
                    _ignore_non_loopback_checks(connection)
            token = _PINNED_HOSTS.set(self.ice_host_addresses or None)
            try:
                await pc.setLocalDescription(await pc.createAnswer())  # gathers all candidates
            finally:
                _PINNED_HOSTS.reset(token)
        except BaseException:
            await pc.close()
            raise
        self.sessions[session.session_id] = session

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.close(session.session_id, f"connection {pc.connectionState}")

        for track in tracks:
            consume = self._video(session, track) if track.kind == "video" else _drain(track)
            session.tasks.append(asyncio.create_task(consume, name=f"whip:{track.kind}"))
        session.tasks.append(asyncio.create_task(self._expire(session), name="whip:expiry"))
        return session

    # -- media ------------------------------------------------------------------------------------
    async def _video(self, session: WhipSession, track: MediaStreamTrack) -> None:
        gate = FrameGate(self.settings.sample_fps, self.settings.min_motion,
                         self.settings.keepalive_s)
        pipeline = FramePipeline(gate, self.settings)
        camera_id = citizen_camera_id(session.report_id)
        first: int | None = None
        previous = 0
        unwrapped = 0
        started: datetime | None = None
        try:
            while not session.closed.is_set():  # ends with the track (MediaStreamError)
                frame = await track.recv()
                if frame.pts is None or frame.time_base is None:
                    continue
                metrics.DECODED.inc()
                if first is None:
                    first, previous, started = frame.pts, frame.pts, datetime.now(UTC)
                delta = (frame.pts - previous) % RTP_WRAP  # RTP timestamps wrap at 2**32
                if delta < RTP_WRAP // 2:
                    unwrapped += delta
                previous = frame.pts
                pts_s = float(unwrapped * frame.time_base)
                sampled = await asyncio.to_thread(pipeline.sample, pts_s, frame)
                if sampled is None:
                    continue
                assert started is not None
                await self.publish_frame(frame_event(camera_id, session.frames, started, sampled,
                                                     SOURCE_KIND_CITIZEN, session.geo,
                                                     session.report_id))
                session.frames += 1
                metrics.PUBLISHED.labels("citizen").inc()
                metrics.PUBLISHED_BYTES.inc(len(sampled.jpeg))
        except MediaStreamError:
            pass
        except Exception:
            log.exception("WHIP video of session %s failed", session.session_id)
        finally:
            if not session.closed.is_set():  # close() cancels this task: run it apart
                task = asyncio.create_task(self.close(session.session_id, "video track ended"))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _expire(self, session: WhipSession) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.closed.wait(), self.max_duration_s)
            return
        await self.close(session.session_id, f"longer than {self.max_duration_s:g} s")

    # -- ending -----------------------------------------------------------------------------------
    async def close(self, session_id: str, reason: str) -> None:
        session = self.sessions.pop(session_id, None)
        if session is None:
            return
        session.closed.set()
        session.close_reason = reason
        self.closed_sessions[session_id] = reason
        while len(self.closed_sessions) > 32:
            self.closed_sessions.pop(next(iter(self.closed_sessions)))
        current = asyncio.current_task()
        for task in session.tasks:
            if task is not current:
                task.cancel()
        await session.pc.close()
        await asyncio.gather(*(t for t in session.tasks if t is not current),
                             return_exceptions=True)
        log.info("WHIP session %s closed (%s): %d frames", session_id, reason, session.frames)

    async def close_all(self) -> None:
        await asyncio.gather(*(self.close(sid, "service stopping") for sid in list(self.sessions)))

    def status(self) -> dict[str, Any]:
        return {"sessions": len(self.sessions), "max_sessions": self.max_sessions}


def _metadata(query: Any) -> UploadMetadata:
    meta = UploadMetadata(media_type="video/webrtc", text=query.get("text", ""),
                          reporter=query.get("reporter", ""))
    try:
        meta.geo.lat_deg = float(query["lat"])
        meta.geo.lon_deg = float(query["lon"])
    except (KeyError, ValueError):
        raise WhipRejected(422, "lat and lon query parameters are required numbers") from None
    if "accuracy" in query:
        with contextlib.suppress(ValueError):
            meta.geo.accuracy_m = max(0.0, float(query["accuracy"]))
    try:
        check_metadata(meta)  # nan fails the range check too
    except UploadRejected as exc:
        raise WhipRejected(422, str(exc)) from None
    return meta


async def _drain(track: MediaStreamTrack) -> None:
    """Audio (or anything else) is not analysed; read it so aiortc's queue does not grow."""
    with contextlib.suppress(MediaStreamError):
        while True:  # ends with the track
            await track.recv()


# -- the citizen page ----------------------------------------------------------------------------
WEB_FILES = {"citizen": ("citizen.html", "text/html"),
             "citizen.js": ("citizen.js", "text/javascript"),
             "citizen.css": ("citizen.css", "text/css")}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "media-src 'self' blob:; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), geolocation=(self), microphone=()",
    "Cache-Control": "no-cache",
}


def _web_file(name: str) -> bytes:
    return (resources.files("vigie_ingest") / "web" / name).read_bytes()


def citizen_routes(names: Iterable[str] = WEB_FILES) -> list[web.RouteDef]:
    """Mount under /ingest/: GET /citizen (the page), /citizen.js and /citizen.css."""
    routes = []
    for path in names:
        filename, content_type = WEB_FILES[path]
        body = _web_file(filename)

        async def serve(_: web.Request, body: bytes = body, ctype: str = content_type
                        ) -> web.Response:
            return web.Response(body=body, content_type=ctype, charset="utf-8",
                                headers=PAGE_HEADERS)

        routes.append(declare(web.get(f"/{path}", serve),
                              public("the citizen reporting page", max_body_bytes=1024)))
    return routes

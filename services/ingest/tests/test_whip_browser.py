"""A real browser streams its (fake) camera to the WHIP endpoint from the citizen page.

Headless Chromium (Debian package `chromium`) is driven by Playwright; Playwright never downloads
a browser here. ICE runs on 127.0.0.1 only: the server pins its host candidates to loopback and
drops the browser's other candidates, so no packet is sent to a non-loopback address.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import prometheus_client
import pytest
import required_inputs as inputs
from vigie.camera.v1.camera_pb2 import SOURCE_KIND_CITIZEN
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.ingest.v1.report_pb2 import ReportChannel, ReportReceived
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import start
from vigie_core.settings import CoreSettings
from vigie_core.topics import FRAMES, REPORTS
from vigie_ingest.adapters import whip as whip_module
from vigie_ingest.adapters.whip import WhipIngest

LAT, LON = 43.6961, 7.2718  # Nice, place Masséna
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    # real IPs in candidates instead of mDNS names, and the loopback interface gathered at all
    "--disable-features=WebRtcHideLocalIpsWithMdns", "--allow-loopback-in-peer-connection",
]


@dataclass
class Server:
    url: str
    bus: MemoryBus
    whip: WhipIngest


@pytest.fixture
async def server(tmp_path, monkeypatch) -> AsyncIterator[Server]:
    """The embedded runtime as `vigie run` starts it, with WebRTC kept on loopback."""
    monkeypatch.setenv("VIGIE_INGEST_WHIP_ICE_HOST_ADDRESSES", '["127.0.0.1"]')
    monkeypatch.setenv("VIGIE_INGEST_WHIP_MAX_SESSIONS", "2")
    bus = MemoryBus("whip-test")
    running = await start(["ingest"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          bus)
    try:
        yield Server(f"http://127.0.0.1:{running.http_port}", bus,
                     running.services[0].whip)  # type: ignore[attr-defined]
    finally:
        await running.stop()


async def read(bus: MemoryBus, topic: str, want: Any, deadline: float) -> list[bytes]:
    """Records of `topic` until `want(values)` is true or the deadline passes."""
    consumer = bus.consumer(f"reader-{topic}", [topic])
    values: list[bytes] = []
    try:
        while not want(values) and time.monotonic() < deadline:
            record = await consumer.poll(0.5)
            if record is not None:
                values.append(record.value)
    finally:
        await consumer.close()
    return values


@pytest.mark.timeout(90)
async def test_citizen_page_streams_geolocated_frames_over_whip(server: Server, tmp_path):
    async_playwright = pytest.importorskip("playwright.async_api").async_playwright
    chromium = inputs.need(inputs.chromium)

    began = time.monotonic()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS,
                                          headless=True, timeout=30_000)
        try:
            context = await browser.new_context(
                geolocation={"latitude": LAT, "longitude": LON},
                permissions=["geolocation", "camera"], viewport={"width": 420, "height": 900},
                # the page's CSP forbids eval, which Playwright's string predicates use at times
                bypass_csp=True)
            page = await context.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            exchanges: list[tuple[str, str]] = []

            async def on_response(response: Any) -> None:
                if response.url.split("?")[0].endswith("/ingest/whip"):
                    exchanges.append((response.request.post_data or "", await response.text()))

            page.on("response", on_response)
            await page.goto(f"{server.url}/ingest/citizen")
            assert await page.title() == "Signaler un incident / Report an incident"
            await page.fill("#text", "Scooter renversé / scooter knocked over")
            await page.click("#stream")

            deadline = time.monotonic() + 30
            reports = await read(server.bus, REPORTS.name, lambda v: len(v) >= 1, deadline)
            assert reports, f"no report; page says {await page.text_content('#live-status')!r}"
            report = ReportReceived.FromString(reports[0])
            assert report.channel == ReportChannel.REPORT_CHANNEL_WHIP
            assert report.report_id.startswith("rpt-whip-")
            assert report.text == "Scooter renversé / scooter knocked over"
            assert abs(report.geo.lat_deg - LAT) < 1e-6 and abs(report.geo.lon_deg - LON) < 1e-6
            assert not report.HasField("media")

            raw = await read(server.bus, FRAMES.name, lambda v: len(v) >= 3, deadline)
            frames = [FrameSampled.FromString(v) for v in raw]
            assert len(frames) >= 3, (f"{len(frames)} frames; console: {console}; "
                                      f"status: {await page.text_content('#live-status')!r}")
            for frame in frames:
                assert frame.source_kind == SOURCE_KIND_CITIZEN
                assert frame.report_id == report.report_id
                assert frame.camera_id == f"citizen-{report.report_id}"
                assert abs(frame.geo.lat_deg - LAT) < 1e-6
                assert abs(frame.geo.lon_deg - LON) < 1e-6
                assert frame.jpeg[:2] == b"\xff\xd8" and frame.width > 0 and frame.height > 0
            assert [f.sequence for f in frames] == list(range(len(frames)))
            assert frames[-1].pts_s > frames[0].pts_s

            # ICE stayed on loopback: our answer offers 127.0.0.1 only, and the pair in use is
            # loopback on both ends.
            (offer, answer), = exchanges
            offered = {line.split()[4] for line in offer.splitlines()
                       if line.startswith("a=candidate:")}
            assert "127.0.0.1" in offered  # needs --allow-loopback-in-peer-connection
            answer_hosts = {line.split()[4] for line in answer.splitlines()
                            if line.startswith("a=candidate:")}
            assert answer_hosts == {"127.0.0.1"}
            (session,) = server.whip.sessions.values()
            assert session.pc.connectionState == "connected"
            for transceiver in session.pc.getTransceivers():
                ice = transceiver.receiver.transport.transport
                pair = ice.iceGatherer._connection._nominated[1]
                assert pair.local_candidate.host == "127.0.0.1"
                assert pair.remote_candidate.host == "127.0.0.1"

            await page.wait_for_function(
                "document.getElementById('live-status').textContent.startsWith('En direct')",
                timeout=10_000)
            shot = tmp_path / "citizen-streaming.png"
            await page.screenshot(path=str(shot), full_page=True)
            (tmp_path / "frame.jpg").write_bytes(frames[-1].jpeg)
            if keep := os.environ.get("VIGIE_SCREENSHOT_DIR"):  # to look at them
                shutil.copy(shot, keep)
                shutil.copy(tmp_path / "frame.jpg", keep)

            await page.click("#stop")
            await page.wait_for_function("document.body.dataset.deleteStatus !== undefined",
                                         timeout=10_000)
            assert await page.evaluate("document.body.dataset.deleteStatus") == "200"
            assert server.whip.sessions == {}
            assert session.closed.is_set() and session.close_reason == "ended by the client"
            assert session.pc.connectionState == "closed"
            await context.close()
        finally:
            await browser.close()
    assert time.monotonic() - began < 60


def rejected() -> float:
    return prometheus_client.REGISTRY.get_sample_value("vigie_ingest_rejections_total",
                                                      {"what": "whip"}) or 0.0


def too_large() -> float:
    return prometheus_client.REGISTRY.get_sample_value(
        "vigie_auth_refused_total", {"transport": "http", "reason": "too_large"}) or 0.0


async def test_whip_refusals_are_explicit(server: Server):
    offer = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    before, before_large = rejected(), too_large()
    async with aiohttp.ClientSession(server.url) as http:
        async with http.post("/ingest/whip?lat=43.7&lon=7.27", data=offer,
                             headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 415 and "application/sdp" in (await r.json())["error"]
        for query in ("lat=91&lon=7.27", "lat=abc&lon=7.27", "lon=7.27", "lat=nan&lon=7"):
            async with http.post(f"/ingest/whip?{query}", data=offer,
                                 headers={"Content-Type": "application/sdp"}) as r:
                assert r.status == 422, query
                assert "lat" in (await r.json())["error"] or "geo" in (await r.json())["error"]
        async with http.post("/ingest/whip?lat=43.7&lon=7.27", data=offer,
                             headers={"Content-Type": "application/sdp"}) as r:
            assert r.status == 400 and "video" in (await r.json())["error"]
        for bad in (offer + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n", b"v=0\xff m=video",
                    offer + "m=video x\r\na=mid:0\r\n"):
            async with http.post("/ingest/whip?lat=43.7&lon=7.27", data=bad,
                                 headers={"Content-Type": "application/sdp"}) as r:
                assert r.status == 400, (bad, await r.text())
        async with http.post("/ingest/whip?lat=43.7&lon=7.27", data="x" * (70 * 1024),
                             headers={"Content-Type": "application/sdp"}) as r:
            assert r.status == 413  # by the HTTP layer: the route's declared body limit
        async with http.delete("/ingest/whip/nope") as r:
            assert r.status == 404
        server.whip.max_sessions = 0
        async with http.post("/ingest/whip?lat=43.7&lon=7.27", data=offer,
                             headers={"Content-Type": "application/sdp"}) as r:
            assert r.status == 503 and r.headers["Retry-After"]
        async with http.get("/ingest/citizen") as r:
            assert r.status == 200 and "Content-Security-Policy" in r.headers
            assert "./whip" in await (await http.get("/ingest/citizen.js")).text()
    assert server.whip.sessions == {}
    assert rejected() - before == 11  # every refusal counted: by WHIP...
    assert too_large() - before_large == 1  # ...and the oversized offer by the HTTP layer


async def test_an_aiortc_client_streams_until_the_duration_cap(server: Server):
    """No browser needed: aiortc on both ends, loopback only, the session ends by itself."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import VideoStreamTrack

    server.whip.max_duration_s = 1.5
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        token = whip_module._PINNED_HOSTS.set(("127.0.0.1",))  # the client on loopback too
        try:
            await pc.setLocalDescription(await pc.createOffer())
        finally:
            whip_module._PINNED_HOSTS.reset(token)
        async with aiohttp.ClientSession(server.url) as http:
            async with http.post("/ingest/whip?lat=43.7&lon=7.27&reporter=tester",
                                 data=pc.localDescription.sdp,
                                 headers={"Content-Type": "application/sdp"}) as r:
                assert r.status == 201, await r.text()
                location, answer = r.headers["Location"], await r.text()
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            session_id = location.rsplit("/", 1)[1]
            assert location == f"/ingest/whip/{session_id}"
            deadline = time.monotonic() + 15
            while session_id in server.whip.sessions and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert server.whip.closed_sessions[session_id] == "longer than 1.5 s"
            async with http.delete(location) as r:  # already ended: still fine
                assert r.status == 200
        frames = await read(server.bus, FRAMES.name, lambda v: len(v) >= 1,
                            time.monotonic() + 5)
        assert frames and FrameSampled.FromString(frames[0]).jpeg[:2] == b"\xff\xd8"
    finally:
        await pc.close()

"""The console's cameras: the list with positions (the map), open alerts and health (ingest's
source state, detect's view problem: covered, defocused, moved, too dark, too bright, each with
since when), and a camera's latest frame for the zone editor, faces blurred."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from vigie.camera.v1.camera_pb2 import Camera
from vigie_alerts.adapters.console.web import API_HEADERS, Api, ApiError, ok
from vigie_alerts.adapters.store import Database, SessionInfo
from vigie_alerts.app import Snapshots
from vigie_alerts.domain import lifecycle
from vigie_alerts.domain.camera_health import CameraHealth, HealthBoard
from vigie_alerts.domain.messages import iso
from vigie_alerts.domain.roles import Permission
from vigie_core.view import CompactedView


class ConsoleCameras:
    def __init__(self, db: Database, api: Api, cameras: CompactedView[Camera],
                 snapshots: Snapshots, health: HealthBoard) -> None:
        self.db, self.api, self.cameras, self.snapshots = db, api, cameras, snapshots
        self.health = health

    def routes(self) -> list[web.RouteDef]:
        return [self.api.route(Permission.VIEW_FEED, "GET", "/api/cameras", self.list_cameras),
                self.api.route(Permission.VIEW_SNAPSHOT, "GET",
                               "/api/cameras/{camera_id}/frame.jpg", self.camera_frame)]

    async def list_cameras(self, _: web.Request, __: SessionInfo) -> web.Response:
        open_counts = await self.db(self.db.store.history.open_counts_by_camera, [
            lifecycle.OPEN, lifecycle.ACKNOWLEDGED, lifecycle.PARTIALLY_CONFIRMED])
        cameras = []
        for c in self.cameras:
            frame = self.snapshots.frames.latest(c.camera_id)
            cameras.append({
                "camera_id": c.camera_id, "name": c.name or c.camera_id, "enabled": c.enabled,
                "lat": c.geo.lat_deg if c.HasField("geo") else None,
                "lon": c.geo.lon_deg if c.HasField("geo") else None,
                "open_alerts": open_counts.get(c.camera_id, 0),
                "has_frame": frame is not None,
                "frame_size": [frame.width, frame.height] if frame else None,
                "health": health_json(self.health.get(c.camera_id))})
        return ok({"cameras": cameras})

    async def camera_frame(self, request: web.Request, _: SessionInfo) -> web.StreamResponse:
        latest = await self.snapshots.blurred_latest(request.match_info["camera_id"])
        if latest is None:
            raise ApiError(404, "no recent frame from this camera")
        frame, data = latest
        return web.Response(body=data, content_type="image/jpeg",
                            headers={**API_HEADERS, "Cache-Control": "private, no-store",
                                     "X-Frame-Id": frame.frame_id})


def health_json(health: CameraHealth | None) -> dict[str, Any]:
    """A camera's health as the console shows it (empty names: not reported / a normal view)."""
    if health is None:
        return {"source_state": "", "source_since": None, "source_reason": "",
                "view_problem": "", "view_since": None}
    return {"source_state": health.source_state,
            "source_since": iso(health.source_since) if health.source_since else None,
            "source_reason": health.source_reason, "view_problem": health.view_problem,
            "view_since": iso(health.view_since) if health.view_since else None}

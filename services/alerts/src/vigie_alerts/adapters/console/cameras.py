"""The console's cameras: the list with positions (the map) and open alerts, and a camera's
latest frame for the zone editor, faces blurred."""

from __future__ import annotations

from aiohttp import web
from vigie.camera.v1.camera_pb2 import Camera
from vigie_alerts.adapters.console.web import API_HEADERS, Api, ApiError, ok
from vigie_alerts.adapters.store import Database, SessionInfo
from vigie_alerts.app import Snapshots
from vigie_alerts.domain import lifecycle
from vigie_alerts.domain.roles import Permission
from vigie_core.view import CompactedView


class ConsoleCameras:
    def __init__(self, db: Database, api: Api, cameras: CompactedView[Camera],
                 snapshots: Snapshots) -> None:
        self.db, self.api, self.cameras, self.snapshots = db, api, cameras, snapshots

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
                "frame_size": [frame.width, frame.height] if frame else None})
        return ok({"cameras": cameras})

    async def camera_frame(self, request: web.Request, _: SessionInfo) -> web.StreamResponse:
        latest = await self.snapshots.blurred_latest(request.match_info["camera_id"])
        if latest is None:
            raise ApiError(404, "no recent frame from this camera")
        frame, data = latest
        return web.Response(body=data, content_type="image/jpeg",
                            headers={**API_HEADERS, "Cache-Control": "private, no-store",
                                     "X-Frame-Id": frame.frame_id})

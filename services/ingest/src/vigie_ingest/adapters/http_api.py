"""POST /ingest/uploads: a citizen's video or photo as the request body, its place and words in
the query (the HTTP twin of IngestService.UploadMedia)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from vigie.ingest.v1.ingest_service_pb2 import UploadMetadata

from vigie_ingest import metrics
from vigie_ingest.adapters.citizen import CitizenMedia, UploadRejected

UPLOAD_CHUNK = 256 * 1024


def upload_handler(citizen: CitizenMedia,
                   max_upload_bytes: int) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def upload(request: web.Request) -> web.Response:
        """POST /ingest/uploads?lat=..&lon=..&text=.. with the media as the body."""
        try:
            meta = UploadMetadata(media_type=request.content_type,
                                  text=request.query.get("text", ""),
                                  reporter=request.query.get("reporter", ""),
                                  filename=request.query.get("filename", ""))
            try:
                meta.geo.lat_deg = float(request.query["lat"])
                meta.geo.lon_deg = float(request.query["lon"])
            except (KeyError, ValueError):
                raise UploadRejected("lat and lon query parameters are required numbers") from None
            if request.content_length and request.content_length > max_upload_bytes:
                raise UploadRejected(f"upload larger than {max_upload_bytes} bytes",
                                     too_large=True)

            async def chunks() -> AsyncIterator[bytes]:
                async for chunk in request.content.iter_chunked(UPLOAD_CHUNK):
                    yield chunk

            report_id, frames = await citizen.upload(meta, chunks())
        except UploadRejected as exc:
            metrics.REJECTED.labels("upload").inc()
            return web.json_response({"error": str(exc)}, status=413 if exc.too_large else 422)
        return web.json_response({"report_id": report_id, "frames_published": frames},
                                 status=201)

    return upload

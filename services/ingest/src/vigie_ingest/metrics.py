"""Prometheus metrics of the ingest service (bounded labels only: no camera ids)."""

from prometheus_client import Counter, Gauge

DECODED = Counter("vigie_ingest_decoded_frames_total", "Frames decoded from sources.")
GATED = Counter("vigie_ingest_gated_frames_total",
                "Sampled frames not published: no motion since the last published one.")
PUBLISHED = Counter("vigie_ingest_published_frames_total", "Frames published.", ["origin"])
PUBLISHED_BYTES = Counter("vigie_ingest_published_jpeg_bytes_total", "JPEG bytes published.")
RECONNECTS = Counter("vigie_ingest_reconnects_total", "Reconnection attempts scheduled.")
STALLS = Counter("vigie_ingest_stalls_total", "Sources that stopped delivering frames.")
REJECTED = Counter("vigie_ingest_rejections_total",
                   "Requests or sources refused, by what was refused.", ["what"])
RUNNING = Gauge("vigie_ingest_running_cameras", "Camera runners owned by this replica.")
REPORTS = Counter("vigie_ingest_citizen_reports_total", "Citizen reports accepted.", ["channel"])
RETENTION_DELETED = Counter("vigie_ingest_retention_deleted_total",
                            "Citizen uploads deleted at the end of their retention (audited).")

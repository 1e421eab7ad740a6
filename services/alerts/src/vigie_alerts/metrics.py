"""Prometheus metrics of the alerts service (vigie_alerts_*; bounded labels only)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ALERTS = Counter("vigie_alerts_alerts_total", "Alerts consumed, by outcome (stored, duplicate).",
                 ["outcome"])
DECISIONS = Counter("vigie_alerts_decisions_total", "Operator decisions recorded, by decision.",
                    ["decision"])
DECISIONS_REFUSED = Counter("vigie_alerts_decisions_refused_total",
                            "DecideAlert calls refused (lifecycle or permission).", ["why"])
DISPATCHES = Counter("vigie_alerts_dispatches_total",
                     "Delivery attempts by channel kind and outcome "
                     "(delivered, retry, failed, unknown, cancelled, suppressed).",
                     ["kind", "outcome"])
DISPATCH_SECONDS = Histogram("vigie_alerts_dispatch_seconds", "Time of one delivery attempt.",
                             ["kind"])
SNAPSHOTS = Counter("vigie_alerts_snapshots_total",
                    "Snapshots by outcome (written, no_frame, failed, dropped, provided; "
                    "a tamper alert's before image: before_written, no_before).",
                    ["outcome"])
FACES_BLURRED = Counter("vigie_alerts_faces_blurred_total", "Faces blurred on snapshots.")
LIVE_CLIENTS = Gauge("vigie_alerts_live_clients", "Connected live-feed clients (WebSocket and "
                     "gRPC StreamAlerts).")
LIVE_DROPPED = Counter("vigie_alerts_live_dropped_clients_total",
                       "Live clients disconnected for falling behind.")
FANOUT_SECONDS = Histogram(
    "vigie_alerts_fanout_seconds", "From an alert's publication on vigie.alerts.v1 to its "
    "hand-over to live clients.", buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
LOGINS = Counter("vigie_alerts_logins_total", "Console logins by outcome (ok, failed).",
                 ["outcome"])
REFUSED = Counter("vigie_alerts_http_refused_total", "Console requests refused, by reason "
                  "(unauthenticated, forbidden, csrf, too_large, bad_request).", ["reason"])
RETENTION_DELETED = Counter("vigie_alerts_retention_deleted_total",
                            "Evidence files and history alerts deleted by retention.", ["what"])

"""Prometheus metrics of the face service (bounded labels only; never subjects or cameras)."""

from prometheus_client import Counter, Gauge, Histogram

FRAMES = Counter("vigie_face_frames_total", "Frames received, by outcome (analysed, refused, "
                 "no_watchlist, rejected).", ["outcome"])
FACES = Counter("vigie_face_faces_total", "Faces found on analysed frames, by outcome "
                "(matched, unmatched, too_small).", ["outcome"])
MATCHES = Counter("vigie_face_matches_total", "FaceMatched events published.")
ANALYSIS_SECONDS = Histogram("vigie_face_analysis_seconds", "Detection + embedding time per "
                             "analysed frame.")
WATCHLIST = Gauge("vigie_face_watchlist_entries", "Watchlist entries in this replica, by state "
                  "(active, expired, unusable).", ["state"])
RPCS = Counter("vigie_face_rpcs_total", "FaceService calls, by method and gRPC status code.",
               ["method", "code"])

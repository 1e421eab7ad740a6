"""Vigie ingest service: camera and citizen media -> sampled, motion-gated JPEG frames."""

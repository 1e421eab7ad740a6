"""Vigie ingest service: Camera and citizen media ingestion: sources -> sampled, motion-gated JPEG frames."""

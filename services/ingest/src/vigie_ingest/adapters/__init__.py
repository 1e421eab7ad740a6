"""Edges of the ingest service: PyAV sources, camera runners, gRPC and HTTP servers."""

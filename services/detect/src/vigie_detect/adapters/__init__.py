"""Edges of the detect service: model backends, tracker, bus handlers, gRPC."""

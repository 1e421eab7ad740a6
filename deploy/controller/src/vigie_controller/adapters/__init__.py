"""Edges: the Kubernetes API client."""

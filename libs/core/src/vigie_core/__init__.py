"""Vigie's shared library: contracts in motion (topics, codec, bus) and service plumbing.

No domain logic lives here, and nothing heavier than Kafka, gRPC and HTTP clients is imported.
"""

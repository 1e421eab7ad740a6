"""Face settings: VIGIE_FACE_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_FACE_", extra="forbid")

    embedder: Literal["sface", "dlib"] = Field(
        "sface", description="Embedding model: sface (YuNet + SFace on OpenCV, default) or dlib "
                             "(YuNet + dlib ResNet). Templates only match probes of their model.")
    allow_downloads: bool = Field(False, description="Fetch missing pinned model files from "
                                                     "their upstream URL (verified).")
    target_fmr: float = Field(1e-4, ge=1e-5, le=1e-2, description=(
        "Target false-match rate per comparison; the threshold comes from the model's measured "
        "calibration (docs/models). A frame's false-positive identification rate is about "
        "FMR x watchlist size."))
    threshold: float = Field(0.0, ge=0, le=1, description="Cosine threshold; 0: derived from "
                                                          "target_fmr.")
    min_detection_score: float = Field(0.8, ge=0.1, le=1, description="YuNet faces below are "
                                                                      "ignored.")
    min_face_px: int = Field(40, ge=16, le=1024, description="Faces smaller (shorter side, "
                                                             "pixels) are not embedded on frames.")
    enrol_min_face_px: int = Field(64, ge=32, le=2048, description="A usable enrolment face "
                                                                   "is at least this big, pixels.")
    enrol_min_image_px: int = Field(64, ge=32, le=4096, description="Enrolment and probe photos "
                                                                    "smaller are refused.")
    enrol_max_photos: int = Field(10, ge=1, le=50, description="Photos per enrolment at most.")
    max_validity_days: int = Field(365, ge=1, le=3650, description="Longest consent validity "
                                                                   "accepted at enrolment, days.")
    expired_purge_days: float = Field(30.0, ge=0, le=3650, description=(
        "Expired entries stop matching at once; this many days later they are erased "
        "(tombstone + key destruction). 0: erased at once."))
    expiry_check_s: float = Field(30.0, gt=0, le=3600, description="How often expiries and "
                                                                   "purges are checked, seconds.")
    workers: int = Field(1, ge=1, le=64, description="Threads running the face models, each "
                                                     "with its own copy.")
    threads: int = Field(1, ge=0, le=256, description="OpenCV threads per model call; 0: every "
                                                      "core.")
    master_key_file: Path | None = Field(None, description=(
        "File holding the 32-byte master key (base64 or hex) that wraps per-subject keys, e.g. a "
        "mounted secret. Required on Kafka; the embedded runtime generates one under the data "
        "dir when unset."))
    keystore_dir: Path | None = Field(None, description="Where wrapped per-subject keys live "
                                                        "(shared by replicas); default: "
                                                        "<VIGIE_DATA_DIR>/face/keys.")
    archive_sample_fps: float = Field(2.0, gt=0, le=30, description="Frames per second decoded "
                                                                    "from archived videos by "
                                                                    "SearchArchive.")
    archive_max_items: int = Field(20000, ge=1, le=10_000_000, description="Most evidence items "
                                                                           "one search examines.")

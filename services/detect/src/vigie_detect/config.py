"""Detect settings: VIGIE_DETECT_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_DETECT_", extra="ignore")

    model: str = Field("yolov3-tiny", description="Model name from `vigie models list` (a pinned "
                                                  "catalogue model or a file in the models dir).")
    allow_downloads: bool = Field(False, description="Fetch missing pinned weights from their "
                                                     "upstream URL (never at run time otherwise).")
    min_confidence: float = Field(0.25, ge=0, le=1, description="Detections below are dropped.")
    nms_iou: float = Field(0.45, gt=0, le=1, description="Non-maximum suppression IoU.")
    input_size: int = Field(416, ge=32, le=2048, description="Square network input, pixels.")
    threads: int = Field(0, ge=0, le=256, description="CPU threads for inference; 0: every "
                                                      "core.")
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:\d+)?)$", description="cpu, cuda or "
                                                                           "cuda:N.")
    half: bool = Field(False, description="fp16 inference (GPU only).")
    max_batch: int = Field(8, ge=1, le=256, description="Frames of any cameras inferred "
                                                        "together.")
    max_wait_ms: float = Field(20.0, ge=0, le=1000, description="How long a frame may wait for "
                                                                "its batch to fill.")
    min_motion: float = Field(0.0, ge=0, le=1, description="Frames with less motion (ingest's "
                                                           "score) are not analysed; 0: all are.")
    max_skip_s: float = Field(5.0, ge=0, description="Analyse a camera's frame at least this "
                                                     "often, motion or not.")
    tracking: bool = Field(True, description="ByteTrack per camera: stable track ids.")

"""Detect settings: VIGIE_DETECT_* environment variables."""

from __future__ import annotations

from typing import Literal

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
    agnostic_nms: bool = Field(False, description="One non-maximum suppression over all classes "
                               "(one object, one box), instead of one per class.")
    nms_shared_classes: list[str] = Field(
        default_factory=lambda: ["car", "truck", "bus"], description="COCO classes whose boxes "
        "suppress each other in NMS (a pickup scored as car and truck is one vehicle); empty: "
        "one NMS per class (opencv-darknet).")
    nested_box_ios: float = Field(0.0, ge=0, le=1, description="One object, one box: a box "
                                  "lying this much (intersection over its own area) within a "
                                  "more confident box of the same NMS group is dropped; 0: off "
                                  "(it drops people behind people: docs/models/yolov3-tiny.md).")
    input_size: int = Field(448, ge=32, le=2048, description="Network input, pixels: square, "
                            "or its long side with keep_aspect.")
    keep_aspect: bool = Field(True, description="Network input of the image's aspect ratio, "
                              "input_size on its long side (opencv-darknet); false: square.")
    flip_tta: bool = Field(False, description="Also infer each image mirrored and merge the "
                           "boxes (opencv-darknet): more recall for twice the model time.")
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
    scene_stage: bool = Field(True, description="Background models per camera: still objects "
                              "(class static_object, whatever they are) and view problems "
                              "(covered, defocused, moved...) on vigie.camera-health.v1.")
    scene_short_s: float = Field(2.0, gt=0, le=60, description="Scene stage: a region still "
                                 "this long is absorbed by the short-term background...")
    scene_static_s: float = Field(2.0, ge=0, le=600, description="...and emitted as a "
                                  "static_object once found still this much longer.")
    scene_fps: float = Field(2.5, ge=0, le=60, description="Scene stage: frames analysed per "
                             "second of stream time, per camera (the frames between carry the "
                             "last analysed frame's still objects); 0: every frame.")
    # ByteTrack parameters (adapters/tracking.py TrackerParams): Ultralytics 8.4's bytetrack.yaml
    # except fuse_score, off (docs/models/yolov3-tiny.md); `vigie eval tracking` measures them.
    track_high_thresh: float = Field(0.25, ge=0, le=1, description="First association: "
                                     "detections at or above this confidence.")
    track_low_thresh: float = Field(0.25, ge=0, le=1, description="Second association (recovers "
                                    "tracks only): detections above this confidence; below "
                                    "min_confidence it makes the detector keep lower boxes.")
    new_track_thresh: float = Field(0.25, ge=0, le=1, description="An unmatched detection at or "
                                    "above this confidence starts a track.")
    track_buffer: int = Field(30, ge=1, le=3000, description="Frames (counted at 30 frames/s) a "
                              "lost track is kept for re-identification.")
    match_thresh: float = Field(0.8, gt=0, le=1, description="Largest association cost "
                                "(1 - IoU, score-fused) a match may have.")
    fuse_score: bool = Field(False, description="Weight IoU by detection confidence in the first "
                             "association (Ultralytics' default; measured worse here).")
    tracker: Literal["bytetrack", "botsort"] = Field(
        "botsort", description="bytetrack: Ultralytics' ByteTrack; botsort: Ultralytics' "
        "BoT-SORT without camera-motion compensation (fixed cameras), its appearance cue fed "
        "with colour histograms of the boxes (no ReID model).")
    # Re-linking after occlusion (domain/relink.py): a new track taking a lost track's id.
    relink_s: float = Field(2.0, ge=0, le=600, description="Stream seconds after a track was "
                            "lost during which a new track that starts where it was heading "
                            "and looks like it (colours) gets its id back; 0: off.")
    relink_max_distance: float = Field(1.0, ge=0, le=20, description="Re-linking: largest "
                                       "distance from the lost track's predicted position to "
                                       "the new box's centre, in the lost box's heights per "
                                       "second lost (at least a quarter of its height).")
    appearance_max_distance: float = Field(0.4, ge=0, le=1, description="Re-linking: largest "
                                           "colour-histogram distance (Hellinger, upper and "
                                           "lower half of the box; 0: identical, 1: disjoint).")
    rider_min_share: float = Field(0.2, ge=0, le=100, description="A track labelled person "
                                   "whose summed bicycle or motorcycle confidence reaches this "
                                   "share of its summed person confidence is a rider: published "
                                   "as the two-wheeler from then on; 0: off.")
    checkpoint_interval_s: float = Field(
        1.0, ge=0, le=3600, description="Stream time between two tracker checkpoints of a "
        "camera on vigie.tracker-state.v1 (a restart goes on with the same track ids; offsets "
        "are stored behind the latest checkpoint); 0: no checkpoints, track ids restart.")
    # Sliced inference for small, far objects (issue 18, domain/slicing.py). A camera's own
    # Camera.slicing_mode and far_field_regions win; this is for cameras that set none.
    slicing: Literal["none", "tiles", "far_field"] = Field(
        "none", description="Cameras without a slicing mode of their own: none (the full frame "
        "only), tiles (full frame + a tile grid over the frame, or over the camera's "
        "far_field_regions) or far_field (full frame + each far_field_region magnified; a camera "
        "without regions is not sliced).")
    slicing_tile_px: int = Field(0, ge=0, le=4096, description="Tiles' side, pixels of the "
                                 "analysed frame; 0: input_size (tiles inferred at their own "
                                 "size, the frame's long side / input_size times magnified).")
    slicing_overlap: float = Field(0.2, ge=0, lt=1, description="Tiles' overlap, a fraction of "
                                   "their side (an object smaller is whole in one tile).")
    slicing_match_threshold: float = Field(0.5, gt=0, le=1, description="Intersection over the "
                                           "smaller box at which boxes of one class from the "
                                           "full frame and the crops are merged as one object.")
    slicing_merge: Literal["nms", "nmm"] = Field(
        "nms", description="How matched boxes merge: nms keeps the whole box (pieces cut by a "
        "tile edge are united only when no whole box exists); nmm: SAHI's union of them all.")

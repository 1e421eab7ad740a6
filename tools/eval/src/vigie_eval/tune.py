"""`vigie eval tune ITEM...`: tracker settings chosen so that they generalise (leave-one-out).

Items are MOTChallenge sequence folders (scored MOTA / IDF1 / ID switches with py-motmetrics)
and scenario files (`vigie eval rules` YAML: counts per line and direction, alerts per expected
event, through `vigie_eval.scenarios.replay` and `score`).

1. Each item is decoded and detected ONCE, through the real ingest and detect services (as
   `vigie eval tracking` does) with tracking off and the detector's floor at `CACHE_FLOOR`
   (low enough for ByteTrack's second association), and cached on disk
   (`~/.cache/vigie/eval-cache/<key>/`, key: the video's SHA-256 (for a `made_with` scenario:
   the source clip's and the filter graph), the detect settings that shape detections, the model
   id): every sampled frame's JPEG, the untracked detections (ObjectsDetected, with the scene
   stage's regions as they are), the frames' times and detect's view reports.
2. Each tracker configuration of the grid then runs offline over the cache, through the detect
   service's own tracker (`vigie_detect.adapters.tracking.CameraTracker`), frame rate estimator
   and publication filter, frame after frame in stream order: seconds per configuration.
3. Objective (a loss per item, lower is better):
   - MOT sequence: 1 - (MOTA + IDF1) / 2;
   - scenario: the mean over its expectations of the count's relative error (capped at 1) or,
     for alerts, (missed windows + false alerts + repeated alerts in a window) / max(1,
     expected alerts).
   A configuration's objective on a set of items is the mean of their losses.
4. Leave-one-out: for each item, the configuration with the least objective on all the OTHER
   items (ties: the earlier in the grid, the production default first) is scored on the item
   left out. The new defaults are the configuration best on ALL items at once.

The production default is the detect settings' defaults (environment included) with `--set`
overrides; grid entries are overrides on top of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.settings import CoreSettings
from vigie_detect.config import Settings as DetectSettings

from vigie_eval.pipeline import analyse_video

CACHE_FLOOR = 0.1  # detector floor of the cache: ByteTrack's own track_low_thresh
CACHE_VERSION = 2  # 2: the scene stage at 2.5 frames/s with 250 ORB features
# Settings that only change tracking: everything else changes detections (part of the key).
TRACKER_SETTINGS = frozenset({
    "tracking", "track_high_thresh", "track_low_thresh", "new_track_thresh", "track_buffer",
    "match_thresh", "fuse_score", "relink_s", "relink_max_distance", "appearance_max_distance",
    "min_confidence", "checkpoint_interval_s", "tracker",
    "nested_box_ios", "rider_min_share"})  # applied after the model: offline too (`track`)

# The grid: (name, tracker, overrides). "default" is production's (the settings' defaults);
# "service" runs the detect service's tracker as the settings say; "botsort-iou" is Ultralytics'
# BoT-SORT with gmc_method none and with_reid false (fixed cameras, IoU only).
OFF = {"relink_s": 0.0, "nested_box_ios": 0.0, "rider_min_share": 0.0}
DEFAULT_GRID: list[tuple[str, str, dict[str, Any]]] = [
    ("default", "service", {}),
    ("bytetrack", "service", {"tracker": "bytetrack", "track_buffer": 30, **OFF}),
    ("bytetrack-buffer60", "service", {"tracker": "bytetrack", "track_buffer": 60, **OFF}),
    ("bytetrack-buffer90", "service", {"tracker": "bytetrack", "track_buffer": 90, **OFF}),
    ("botsort-iou", "botsort-iou", {"tracker": "bytetrack", "track_buffer": 30, **OFF}),
    ("botsort-iou-buffer60", "botsort-iou", {"tracker": "bytetrack", "track_buffer": 60, **OFF}),
    ("botsort-colour", "service", {"tracker": "botsort", "track_buffer": 30, **OFF}),
    ("botsort-colour-buffer60", "service", {"tracker": "botsort", "track_buffer": 60, **OFF}),
    *[(f"bytetrack+relink{s:g}s-d{d:g}-a{a:g}", "service",
       {"tracker": "bytetrack", "track_buffer": 30, "relink_s": s, "relink_max_distance": d,
        "appearance_max_distance": a})
      for s in (2.0, 4.0) for d in (1.0, 2.0) for a in (0.4,)],
    *[(f"botsort-colour+relink{s:g}s-d{d:g}-a{a:g}", "service",
       {"tracker": "botsort", "track_buffer": 30, "relink_s": s, "relink_max_distance": d,
        "appearance_max_distance": a})
      for s in (2.0, 4.0) for d in (1.0, 2.0) for a in (0.3, 0.4, 0.5)],
    # One object, one box (detect's OneBoxPerObject) on top of the tracker chosen above.
    *[(f"botsort-colour+relink2s-d1-a0.4+nested{n:g}", "service",
       {"tracker": "botsort", "track_buffer": 30, "relink_s": 2.0, "relink_max_distance": 1.0,
        "appearance_max_distance": 0.4, "nested_box_ios": n})
      for n in (0.0, 0.7, 0.8, 0.9)],
    # Riders (detect's domain/riders.py): the production default with other shares (0: off).
    *[(f"default+riders{r:g}", "service", {"rider_min_share": r}) for r in (0.0, 0.05, 0.1, 0.5)],
]


# -- items and the cache -----------------------------------------------------------------------


@dataclass
class CachedFrame:
    pts_s: float
    captured_us: int
    detected: ObjectsDetected  # untracked model detections (>= CACHE_FLOOR) + scene regions
    jpeg: Path


@dataclass
class CachedItem:
    name: str
    kind: str  # "mot" or "scenario"
    source: Path  # sequence folder or scenario file
    model_id: str
    frames: list[CachedFrame]
    view_reports: list[CameraHealthChanged] = field(default_factory=list)
    scenario: Any = None  # vigie_eval.scenarios.Scenario
    sequence: Any = None  # vigie_eval.mot.SequenceInfo


def cache_root() -> Path:
    return Path(os.environ.get("VIGIE_EVAL_CACHE", Path.home() / ".cache/vigie/eval-cache"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_id_of(settings: DetectSettings) -> str:
    """The model id detect will publish, resolved without loading the model."""
    from vigie_detect.adapters.backends import model_store

    try:
        return str(model_store(CoreSettings().models_dir).resolve(settings.model).model_id)
    except Exception:  # unknown here: detect will say why when it runs
        return str(settings.model)


def cache_settings(settings: DetectSettings) -> DetectSettings:
    """The detect settings a cache is made with: tracking off, floor CACHE_FLOOR."""
    return DetectSettings(**{**settings.model_dump(), "tracking": False, "nested_box_ios": 0.0,
                             "min_confidence": min(CACHE_FLOOR, settings.min_confidence)})


def cache_key(video_identity: str, settings: DetectSettings, model_id: str,
              sample_fps: float) -> str:
    shaping = {k: v for k, v in settings.model_dump(mode="json").items()
               if k not in TRACKER_SETTINGS}
    blob = json.dumps({"v": CACHE_VERSION, "video": video_identity, "model_id": model_id,
                       "fps": sample_fps, "floor": CACHE_FLOOR, "detect": shaping},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


async def _detect_all(video: Path, sample_fps: float, detect: DetectSettings, camera_id: str,
                      ) -> tuple[list[tuple[FrameSampled, ObjectsDetected]],
                                 list[CameraHealthChanged], str]:
    """Every sampled frame (with its JPEG) and its detections, through ingest and detect."""
    run = await analyse_video(video, sample_fps, detect, camera_id=camera_id, keep_jpeg=True)
    return [(a.frame, a.detected) for a in run.frames], run.view_reports, run.model_id


def _write_cache(folder: Path, pairs: list[tuple[FrameSampled, ObjectsDetected]],
                 reports: list[CameraHealthChanged], model_id: str) -> None:
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    (tmp / "jpeg").mkdir(parents=True, exist_ok=True)
    rows = []
    for n, (frame, detected) in enumerate(pairs):
        name = f"jpeg/{n:06d}.jpg"
        (tmp / name).write_bytes(frame.jpeg)
        rows.append({"pts_s": frame.pts_s, "captured_us": frame.captured_at.ToMicroseconds(),
                     "jpeg": name, "detected": detected.SerializeToString().hex()})
    manifest = {"version": CACHE_VERSION, "model_id": model_id, "frames": rows,
                "view_reports": [r.SerializeToString().hex() for r in reports]}
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    tmp.rename(folder)


def _read_cache(folder: Path) -> tuple[list[CachedFrame], list[CameraHealthChanged], str]:
    manifest = json.loads((folder / "manifest.json").read_text())
    frames = [CachedFrame(r["pts_s"], r["captured_us"],
                          ObjectsDetected.FromString(bytes.fromhex(r["detected"])),
                          folder / r["jpeg"]) for r in manifest["frames"]]
    reports = [CameraHealthChanged.FromString(bytes.fromhex(h)) for h in manifest["view_reports"]]
    return frames, reports, str(manifest["model_id"])


def load_item(path: Path, settings: DetectSettings, *, clips: Path | None = None,
              log: Any = print) -> CachedItem:
    """A MOT sequence folder or a scenario file, detected once (cached)."""
    from vigie_eval.mot import read_sequence
    from vigie_eval.scenarios import load_scenario, made_clip
    from vigie_eval.tracking import camera_id_for

    detect = cache_settings(settings)
    model_id = model_id_of(detect)
    with tempfile.TemporaryDirectory(prefix="vigie-tune-clip-") as tmp:
        if path.is_dir():
            info = read_sequence(path)
            video, fps, name, kind = info.video, info.frame_rate, info.name, "mot"
            identity, camera_id, scenario = sha256_file(video), camera_id_for(info.name), None
        else:
            scenario = load_scenario(path, clips_dir=clips)
            info, name, kind, fps = None, scenario.name, "scenario", scenario.spec.sample_fps
            camera_id = scenario.camera_id
            identity = sha256_file(scenario.clip) + json.dumps(
                [scenario.spec.made_with, scenario.spec.duration_s])
            video = scenario.clip
        folder = cache_root() / cache_key(identity, detect, model_id, fps)
        if not (folder / "manifest.json").is_file():
            if scenario is not None and scenario.spec.made_with:
                video = made_clip(scenario, Path(tmp))
            log(f"{name}: decoding and detecting once into {folder}")
            pairs, reports, model_id = asyncio.run(_detect_all(video.resolve(), fps, detect,
                                                               camera_id))
            folder.parent.mkdir(parents=True, exist_ok=True)
            _write_cache(folder, pairs, reports, model_id)
    frames, reports, model_id = _read_cache(folder)
    return CachedItem(name, kind, path, model_id, frames, reports, scenario, info)


# -- offline tracking over a cached item -------------------------------------------------------


@dataclass
class Prepared:
    """An item's per-frame arrays (pixels), appearances computed once from the JPEGs."""

    item: CachedItem
    xyxy: list[np.ndarray]
    confidence: list[np.ndarray]
    class_id: list[np.ndarray]
    features: list[np.ndarray]
    regions: list[list[Any]]  # scene-stage detections, passed through as they are
    names: dict[int, str]


def prepare(item: CachedItem) -> Prepared:
    from vigie_detect.adapters.images import decode_image
    from vigie_detect.domain.relink import FEATURE_SIZE, appearances

    out = Prepared(item, [], [], [], [], [], {})
    for frame in item.frames:
        d = frame.detected
        model = [x for x in d.detections if x.class_id >= 0]
        out.regions.append([x for x in d.detections if x.class_id < 0])
        w, h = d.image_width, d.image_height
        xyxy = np.array([[x.box.x_min * w, x.box.y_min * h, x.box.x_max * w, x.box.y_max * h]
                         for x in model], np.float32).reshape(-1, 4)
        out.xyxy.append(xyxy)
        out.confidence.append(np.array([x.confidence for x in model], np.float32))
        out.class_id.append(np.array([x.class_id for x in model], np.int64))
        out.names.update({x.class_id: x.class_name for x in model})
        image = decode_image(frame.jpeg.read_bytes()) if len(model) else None
        out.features.append(appearances(image, xyxy) if image is not None
                            else np.zeros((0, FEATURE_SIZE), np.float32))
    return out


def _tracker(kind: str, settings: DetectSettings) -> Any:
    from vigie_detect.adapters.tracking import BOTSORT_ARGS, CameraTracker
    from vigie_detect.app import tracker_params
    from vigie_detect.domain.detections import COCO_CLASSES

    tracker = CameraTracker(tracker_params(settings, COCO_CLASSES))
    if kind == "botsort-iou":  # Ultralytics' BoT-SORT, no GMC, no appearance cue at all
        from ultralytics.trackers.bot_sort import BOTSORT

        args = {**tracker.params.bytetrack_args(), **BOTSORT_ARGS, "with_reid": False}
        tracker._tracker = BOTSORT(SimpleNamespace(**args))
        tracker._appearance_cue = False
    elif kind != "service":
        raise ValueError(f"unknown tracker {kind!r}")
    return tracker


def track(prepared: Prepared, kind: str, settings: DetectSettings) -> list[ObjectsDetected]:
    """The item's frames as detect would publish them with `settings` (and tracker `kind`)."""
    from vigie_detect.app import detector_floor, nested_box_groups, published, to_proto
    from vigie_detect.domain.detections import (
        COCO_CLASSES,
        Detections,
        nms_group_of,
        suppress_nested,
    )
    from vigie_detect.domain.frame_rate import FrameRate

    tracker = _tracker(kind, settings)
    rates = FrameRate()
    floor = detector_floor(settings)
    names = tuple(prepared.names.get(i, str(i)) for i in range(max(prepared.names, default=0) + 1))
    # as detect's OneBoxPerObject
    group_of = nms_group_of(len(COCO_CLASSES), nested_box_groups(settings, len(COCO_CLASSES)))
    out = []
    for k, frame in enumerate(prepared.item.frames):
        rate = rates.update("tune", frame.captured_us)
        keep = prepared.confidence[k] >= floor
        found = Detections(prepared.xyxy[k][keep], prepared.confidence[k][keep],
                           prepared.class_id[k][keep])
        features = prepared.features[k][keep]
        if settings.nested_box_ios > 0 and len(found):
            alone = suppress_nested(found.with_tracker_ids(np.arange(len(found))), group_of,
                                    settings.nested_box_ios).tracker_id
            found, features = found[alone], features[alone]
        found = tracker.update(found, rate, t_s=frame.captured_us / 1e6,
                               features=features,
                               image_size=(frame.detected.image_width,
                                           frame.detected.image_height))
        found = published(found, settings.min_confidence)
        message = ObjectsDetected()
        message.CopyFrom(frame.detected)
        del message.detections[:]
        message.detections.extend(to_proto(found, frame.detected.image_width,
                                           frame.detected.image_height, names))
        message.detections.extend(prepared.regions[k])
        out.append(message)
    return out


def score_item(prepared: Prepared, published: list[ObjectsDetected]) -> dict[str, float]:
    """The item's figures and its `loss` (see the module docstring)."""
    item = prepared.item
    if item.kind == "mot":
        from vigie_eval.mot import accumulate, hypotheses, read_ground_truth, summarise
        from vigie_eval.tracking import frame_index

        info = item.sequence
        indexed = [(frame_index(f.pts_s, info.frame_rate), p)
                   for f, p in zip(item.frames, published, strict=True)]
        indexed = [(i, d) for i, d in indexed if 1 <= i <= info.length]
        gt = read_ground_truth(info.folder / "gt" / "gt.txt")
        hyp = hypotheses(indexed, info.width, info.height)
        row = summarise({item.name: accumulate(gt, hyp, [i for i, _ in indexed])})[item.name]
        figures = {k: row[k] for k in ("mota", "idf1", "num_switches", "num_false_positives",
                                       "num_misses")}
        figures["loss"] = 1 - (row["mota"] + row["idf1"]) / 2
        return figures
    from vigie_eval.scenarios import replay, score

    alerts, stats = replay(published, item.scenario.rules, item.view_reports)
    first = item.frames[0] if item.frames else None
    origin_ms = (first.detected.captured_at.ToMilliseconds() - round(first.pts_s * 1000)
                 if first else 0)
    outcomes, _ = score(item.scenario, alerts, stats, origin_ms)
    losses, figures = [], {}
    for o in outcomes:
        if o.kind == "alerts":  # per expected event: missed, false, and repeated alerts
            repeated = max(0, o.measured - (o.expected - o.misses) - o.false_alerts)
            loss = (o.misses + o.false_alerts + repeated) / max(1, o.expected)
            figures[f"{o.rule}:alerts"] = float(o.measured)
        else:
            loss = min(1.0, o.error)
            figures[f"{o.rule}:{o.kind}:{o.what}"] = float(o.measured)
        losses.append(loss)
    figures["loss"] = float(np.mean(losses)) if losses else 0.0
    figures["passed"] = float(all(o.passed for o in outcomes))
    return figures


# -- selection (pure) --------------------------------------------------------------------------


def objective(losses: Mapping[str, float], items: Sequence[str]) -> float:
    """Mean loss over `items`."""
    return float(np.mean([losses[i] for i in items])) if items else 0.0


def best_config(losses: Mapping[str, Mapping[str, float]], items: Sequence[str]) -> str:
    """The configuration (in `losses`' order: ties go to the earlier) least on `items`."""
    best, best_value = "", float("inf")
    for config, row in losses.items():
        value = objective(row, items)
        if value < best_value - 1e-12:
            best, best_value = config, value
    return best


def leave_one_out(losses: Mapping[str, Mapping[str, float]]) -> dict[str, str]:
    """For each item, the configuration best on all the others: losses[config][item]."""
    items = list(next(iter(losses.values())))
    return {item: best_config(losses, [i for i in items if i != item]) for item in items}


# -- the command -------------------------------------------------------------------------------


def _describe(name: str, figures: Mapping[str, float], kind: str) -> str:
    if kind == "mot":
        return (f"{name}: MOTA {figures['mota']:.1%} IDF1 {figures['idf1']:.1%} "
                f"IDsw {figures['num_switches']:.0f}")
    return f"{name}: loss {figures['loss']:.3f}"


def run(paths: Sequence[Path], base: DetectSettings,
        grid: Sequence[tuple[str, str, dict[str, Any]]], *, clips: Path | None = None,
        markdown: bool = False, log: Any = print) -> dict[str, Any]:
    from vigie_eval.report import table

    prepared = []
    for path in paths:
        item = load_item(path, base, clips=clips, log=log)
        prepared.append(prepare(item))
    names = [p.item.name for p in prepared]
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for config, kind, overrides in grid:
        settings = DetectSettings(**{**base.model_dump(), **overrides})
        started = time.perf_counter()
        scores[config] = {p.item.name: score_item(p, track(p, kind, settings)) for p in prepared}
        log(f"{config}: " + "; ".join(_describe(n, scores[config][n], p.item.kind)
                                      for n, p in zip(names, prepared, strict=True))
            + f" ({time.perf_counter() - started:.1f} s)")
    losses = {c: {n: row[n]["loss"] for n in names} for c, row in scores.items()}
    chosen = leave_one_out(losses)
    overall = best_config(losses, names)
    kinds = {p.item.name: p.item.kind for p in prepared}

    def cell(config: str, item: str) -> str:
        f = scores[config][item]
        if kinds[item] == "mot":
            return (f"MOTA {f['mota']:.1%} IDF1 {f['idf1']:.1%} IDsw {f['num_switches']:.0f}"
                    f" (loss {f['loss']:.3f})")
        return f"loss {f['loss']:.3f}, passed {f['passed']:.0f}"

    # compared with the production default and, when in the grid, the previous one (ByteTrack)
    references = [grid[0][0], *(["bytetrack"] if "bytetrack" in scores else [])]
    loo_rows = [[n, chosen[n], cell(chosen[n], n), *(cell(r, n) for r in references)]
                for n in names]
    print(table(["left out", "chosen on the others", "its score there",
                 *(f"{r} there" for r in references)], loo_rows, markdown))
    print()
    grid_rows = [[c, f"{objective(losses[c], names):.4f}",
                  *(cell(c, n) for n in names)] for c in losses]
    print(table(["configuration", "objective (all)", *names], grid_rows, markdown))
    print(f"\nbest on all items: {overall} {dict(next(o for c, _, o in grid if c == overall))}")
    return {"items": names, "grid": [{"name": c, "tracker": k, "overrides": o}
                                     for c, k, o in grid],
            "scores": scores, "leave_one_out": chosen, "best_on_all": overall,
            "objective": "mean over items of: MOT 1-(MOTA+IDF1)/2; scenario mean of count "
                         "relative error (capped at 1) and (misses+false+repeated alerts)/"
                         "expected"}

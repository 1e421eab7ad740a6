#!/usr/bin/env python3
"""Sliced inference (issue 18) against the plain full-frame detector, side by side in one run.

For each shared clip (motorway_overpass, city_road_motorcycles, crossing_crowd_aerial,
carpark_topdown), `--frames` frames spread evenly over the clip are decoded once (capped at
960x540, as ingest does), then each mode runs the same detector (yolov3-tiny with the detect
service's default settings: input 448 on the long side, confidence 0.25, car/truck/bus one NMS
group) on the same frames, one frame at a time, the mode order rotated each round:

- `full`: the plain detector on the full frame (the reference);
- `tiles-<px>`: full frame + a tile grid of <px> squares (VIGIE_DETECT_SLICING=tiles,
  VIGIE_DETECT_SLICING_TILE_PX=<px>), one mode per `--tile-px`;
- `far_field`: full frame + the clip's far-field region(s) below, each magnified to the input
  size (a Camera's far_field_regions with slicing_mode FAR_FIELD), for the clips that have one.

Prints per clip and mode: detections per frame by class (the classes of the scenarios), model
time per frame (median over the rounds of the detector call's wall time, crops and merging
included; the modes interleaved frame by frame so they share the machine's load) and its ratio
to `full`. Writes bench/results/slicing-<date>.json (git-ignored).

    ~/.cache/vigie/venv/bin/python bench/detect/bench_slicing.py             # 20 frames, 1 round
    ~/.cache/vigie/venv/bin/python bench/detect/bench_slicing.py --tile-px 448 640 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from vigie_core.settings import CoreSettings
from vigie_detect.adapters.backends import load_detector, model_store
from vigie_detect.adapters.slicing import SlicedDetector
from vigie_detect.app import detector_settings, nms_groups
from vigie_detect.config import Settings
from vigie_detect.domain.slicing import SlicingMode, SlicingPlan, plan_crops

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
DEFAULT_CLIPS = REPO.parent / "shared" / "data" / "clips"
CLIPS = ("motorway_overpass", "city_road_motorcycles", "crossing_crowd_aerial",
         "carpark_topdown")
# Far-field regions (normalised x_min, y_min, x_max, y_max), read off the clips: where the
# objects are smallest.
FAR_FIELD = {
    "motorway_overpass": ((0.35, 0.0, 1.0, 0.3),),  # far end of the near lanes, far carriageway
    "city_road_motorcycles": ((0.3, 0.0, 0.9, 0.35),),  # riders waiting at the far stop line
}
CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
MAX_SIZE = (960, 540)  # ingest's default analysis cap


def frames_of(clip: Path, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(clip))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    wanted = set(np.linspace(0, total - 1, count).round().astype(int).tolist())
    out, index = [], 0
    while len(out) < len(wanted):
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            height, width = frame.shape[:2]
            scale = min(1.0, MAX_SIZE[0] / width, MAX_SIZE[1] / height)
            if scale < 1:
                frame = cv2.resize(frame, (round(width * scale), round(height * scale)),
                                   interpolation=cv2.INTER_AREA)
            out.append(frame)
        index += 1
    capture.release()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20, help="frames per clip (default 20)")
    parser.add_argument("--rounds", type=int, default=1, help="timed rounds (default 1)")
    parser.add_argument("--tile-px", type=int, nargs="+", help="tile side(s), one tiles mode "
                        "each (default: the setting's, i.e. input_size)")
    parser.add_argument("--overlap", type=float, help="tile overlap (default: the setting's)")
    parser.add_argument("--merge", choices=("nmm", "nms"), help="merging (default: the "
                        "setting's, nms)")
    parser.add_argument("--compare-nmm", action="store_true", help="add tiles-<px>-nmm modes: "
                        "the same tiles merged with SAHI's NMM (union of the matches)")
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    present = [c for c in CLIPS if (args.clips / f"{c}.mp4").is_file()]
    if not present:
        print(f"SKIP: none of {', '.join(CLIPS)} in {args.clips}")
        return 0
    config = Settings()
    settings = detector_settings(config)
    resolved = model_store(CoreSettings().models_dir).resolve(config.model)
    detector = load_detector(resolved, settings)
    groups = nms_groups(config)
    tile_sizes = args.tile_px or [config.slicing_tile_px or config.input_size]
    overlap = config.slicing_overlap if args.overlap is None else args.overlap
    how = args.merge or config.slicing_merge
    detector.detect([np.zeros((432, 768, 3), np.uint8)])  # the first forward pass is slow

    rows: list[dict[str, Any]] = []
    for name in present:
        frames = frames_of(args.clips / f"{name}.mp4", args.frames)
        height, width = frames[0].shape[:2]
        plans: dict[str, SlicingPlan | None] = {"full": None}
        for tile in tile_sizes:
            plans[f"tiles-{tile}"] = SlicingPlan(
                SlicingMode.TILES, tile_px=tile, overlap=overlap,
                match_threshold=config.slicing_match_threshold, merge=how,
                merge_groups=groups)
            if args.compare_nmm and how != "nmm":
                plans[f"tiles-{tile}-nmm"] = SlicingPlan(
                    SlicingMode.TILES, tile_px=tile, overlap=overlap,
                    match_threshold=config.slicing_match_threshold, merge="nmm",
                    merge_groups=groups)
        if name in FAR_FIELD:
            plans["far_field"] = SlicingPlan(SlicingMode.FAR_FIELD, FAR_FIELD[name],
                                             match_threshold=config.slicing_match_threshold,
                                             merge=how, merge_groups=groups)
        runs = {mode: detector if plan is None else SlicedDetector(detector, plan)
                for mode, plan in plans.items()}
        times: dict[str, list[float]] = {mode: [] for mode in plans}
        counts: dict[str, Counter[str]] = {}
        modes = list(plans)
        for _ in range(args.rounds):
            elapsed = dict.fromkeys(modes, 0.0)
            found = {mode: Counter[str]() for mode in modes}
            for index, frame in enumerate(frames):
                # Modes interleaved frame by frame, their order rotated: paired timings under
                # the same load from whatever else runs on the machine.
                shift = index % len(modes)
                for mode in modes[shift:] + modes[:shift]:
                    started = time.perf_counter()
                    detections = runs[mode].detect([frame])[0]
                    elapsed[mode] += time.perf_counter() - started
                    found[mode].update(detections.class_names(detector.class_names))
            for mode in modes:
                times[mode].append(elapsed[mode] / len(frames))
            counts = found
        reference = statistics.median(times["full"])
        for mode, plan in plans.items():
            crops = 0 if plan is None else int((plan_crops(plan, width, height)
                                                 != [0, 0, width, height]).any(axis=1).sum())
            seconds = statistics.median(times[mode])
            rows.append({"clip": name, "size": f"{width}x{height}", "mode": mode,
                         "crops": crops, "ms_per_frame": round(seconds * 1000, 1),
                         "cost_ratio": round(seconds / reference, 2),
                         "per_frame": {c: round(counts[mode][c] / len(frames), 2)
                                       for c in CLASSES},
                         "other_per_frame": round(sum(v for k, v in counts[mode].items()
                                                      if k not in CLASSES) / len(frames), 2)})

    when = datetime.now(UTC)
    print(f"bench_slicing {when:%Y-%m-%d %H:%M} UTC, {detector.model_id}, input "
          f"{config.input_size} keep_aspect={config.keep_aspect}, {args.frames} frames/clip, "
          f"{args.rounds} round(s), tiles overlap {overlap}, merge {how} "
          f"IOS {config.slicing_match_threshold}, {os.cpu_count()} cores")
    header = ["clip", "mode", "crops", *CLASSES, "other", "ms/frame", "cost"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join([f"{r['clip']} ({r['size']})", r["mode"], str(r["crops"]),
                                 *(f"{r['per_frame'][c]:.2f}" for c in CLASSES),
                                 f"{r['other_per_frame']:.2f}", f"{r['ms_per_frame']:.0f}",
                                 f"x{r['cost_ratio']:.2f}"]) + " |")
    out = args.out or RESULTS / f"slicing-{when:%Y-%m-%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"at": when.isoformat(), "model": detector.model_id,
                               "settings": {"input_size": config.input_size,
                                            "keep_aspect": config.keep_aspect,
                                            "tile_px": tile_sizes, "overlap": overlap,
                                            "merge": how,
                                            "match_threshold": config.slicing_match_threshold},
                               "frames": args.frames, "rounds": args.rounds,
                               "machine": platform.processor() or platform.machine(),
                               "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

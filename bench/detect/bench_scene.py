"""The scene stage's cost per frame against a bare OpenCV MOG2 loop on the same frames.

Each shared clip is decoded once at 5 frames/s (ingest's default) into memory; then, on the
same frames, alternately: the bare reference (resize to the analysis width, one MOG2 `apply`)
and detect's scene stage (`ScenePool.update`: two MOG2 backgrounds, still regions, ORB view
alignment, the view measures). Single-threaded CPU time (OpenCV set to 1 thread). Prints, per
clip, ms per frame of both and their ratio, and the cameras per core the stage alone allows at
5 frames/s; writes bench/results/scene-<date>.json.

    python bench/detect/bench_scene.py [--clips ../shared/data/clips] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

import av
import cv2
import numpy as np
from vigie_detect.adapters.scene import SceneParams, ScenePool

REPO = Path(__file__).resolve().parents[2]
FPS = 5.0


def frames(video: Path) -> list[tuple[float, np.ndarray]]:
    out = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        due = 0.0
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            if t + 1e-6 < due:
                continue
            due += 1 / FPS
            out.append((t, frame.to_ndarray(format="bgr24")))
    return out


def bare_mog2(clip: list[tuple[float, np.ndarray]], width: int) -> float:
    mog2 = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=16, detectShadows=True)
    started = time.process_time()
    for _, image in clip:
        h, w = image.shape[:2]
        small = cv2.resize(image, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
        mog2.apply(small)
    return time.process_time() - started


def scene_stage(clip: list[tuple[float, np.ndarray]], params: SceneParams) -> float:
    pool = ScenePool(params)
    started = time.process_time()
    for t, image in clip:
        pool.update("bench", image, t, [])
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=Path, default=REPO.parent / "shared/data/clips")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    params = SceneParams()
    rows = []
    print(f"{'clip':32} {'frames':>6} {'MOG2 ms':>8} {'scene ms':>9} {'ratio':>6} "
          f"{'cams/core':>9}")
    for video in sorted(args.clips.glob("*.mp4")):
        clip = frames(video)
        bare, scene = [], []
        for _ in range(args.rounds):  # alternate, keep the best of each
            bare.append(bare_mog2(clip, params.analysis_width))
            scene.append(scene_stage(clip, params))
        bare_ms, scene_ms = 1000 * min(bare) / len(clip), 1000 * min(scene) / len(clip)
        row = {"clip": video.name, "frames": len(clip), "mog2_ms": round(bare_ms, 2),
               "scene_ms": round(scene_ms, 2), "ratio": round(scene_ms / bare_ms, 2),
               "cameras_per_core_at_5fps": round(1000 / (scene_ms * FPS), 1)}
        rows.append(row)
        print(f"{video.name:32} {len(clip):6d} {bare_ms:8.2f} {scene_ms:9.2f} "
              f"{row['ratio']:6.2f} {row['cameras_per_core_at_5fps']:9.1f}")
    out = REPO / "bench/results" / f"scene-{date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": date.today().isoformat(), "rows": rows}, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()

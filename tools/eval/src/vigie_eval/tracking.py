"""`vigie eval tracking`: MOTChallenge sequences through ingest -> detect -> ByteTrack.

Each sequence's video is read by a file camera sampled at the sequence's own frame rate (every
frame is evaluated), detect runs with the given `vigie_detect.config.Settings` (the service's
own settings class: the defaults are production's), and the person tracks it publishes are scored
against gt/gt.txt with py-motmetrics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigie_detect.config import Settings as DetectSettings

from vigie_eval.mot import (
    SequenceInfo,
    accumulate,
    hypotheses,
    read_ground_truth,
    read_sequence,
    summarise,
)
from vigie_eval.pipeline import Progress, VideoRun, analyse_video, ingest_overrides


@dataclass
class SequenceResult:
    info: SequenceInfo
    run: VideoRun
    evaluated_frames: list[int]
    accumulator: Any  # motmetrics.MOTAccumulator


def camera_id_for(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")[:63] or "sequence"


def frame_index(pts_s: float, frame_rate: float) -> int:
    """1-based MOTChallenge frame number of a decoded frame's stream time."""
    return round(pts_s * frame_rate) + 1


async def evaluate_sequence(folder: Path, detect: DetectSettings, *, fps: float | None = None,
                            min_motion: float = 0.0,
                            progress: Progress | None = None) -> SequenceResult:
    """Run one sequence through the services and accumulate its matches. `fps`: sampling rate
    (default: the sequence's, i.e. every frame); with a lower rate only sampled frames count."""
    info = read_sequence(folder)
    video = info.video
    run = await analyse_video(video, fps or info.frame_rate, detect,
                              ingest=ingest_overrides(video, min_motion=min_motion),
                              camera_id=camera_id_for(info.name), progress=progress)
    indexed = [(frame_index(a.pts_s, info.frame_rate), a.detected) for a in run.frames]
    indexed = [(i, d) for i, d in indexed if 1 <= i <= info.length]
    gt = read_ground_truth(folder / "gt" / "gt.txt")
    hyp = hypotheses(indexed, info.width, info.height)
    frames = [i for i, _ in indexed]
    return SequenceResult(info, run, frames, accumulate(gt, hyp, frames))


def summary(results: list[SequenceResult]) -> dict[str, dict[str, float]]:
    table = summarise({r.info.name: r.accumulator for r in results})
    for r in results:
        row = table[r.info.name]
        row["frames_evaluated"] = float(len(r.evaluated_frames))
        row["fps"] = r.run.fps
        row["inference_ms"] = 1000 * r.run.inference_s / max(1, len(r.run.frames))
    if "OVERALL" in table:
        frames = sum(len(r.evaluated_frames) for r in results)
        wall = sum(r.run.wall_s for r in results)
        table["OVERALL"]["frames_evaluated"] = float(frames)
        table["OVERALL"]["fps"] = frames / wall if wall else 0.0
        table["OVERALL"]["inference_ms"] = 1000 * sum(r.run.inference_s for r in results) / max(
            1, sum(len(r.run.frames) for r in results))
    return table

"""Detect service throughput against the bare model loop, batching and motion skipping.

    ~/.cache/vigie/venv/bin/python bench/detect/bench_detect.py [--quick] [--profile] [--t1-row]
        [--no-scene-row]

Input is prepared once, as the ingest service would publish it: each clip decoded with PyAV,
sampled at 5 fps by stream time, downscaled to fit 960x540, JPEG q80, motion score against the
previous sampled frame (vigie_ingest FramePipeline with the motion gate off, so every sampled frame
is kept and carries its score), wrapped with vigie_ingest's frame_event(). Four cameras = the four
clips of <repo>/../shared/data/clips, the first --frames (30) sampled frames of each, published
interleaved (c0 f0, c1 f0, c2 f0, c3 f0, c0 f1, ...).

Modes, every one with the same model and detector options (yolov3-tiny with the detect service's
own settings: the bare loop's detector is loaded from the same Settings through the same
detector_settings() as the service's, e.g. input 448 with keep_aspect) and the same OpenCV thread
count (--threads, default: every core), run interleaved (one round = every mode once, mode
order rotated from round to round) so that load from elsewhere hits all of them alike:

  bare-b1      reference: cv2.imdecode + detector.detect([image]), frame by frame, no bus
  bare-b1-t1   (--t1-row) the same with cv2.setNumThreads(1)
  bare-b4      the same with detector.detect(4 images) (one frame of each camera per batch)
  service-b1   DetectService in the embedded runtime on a MemoryBus, MAX_BATCH=1, MIN_MOTION=0:
               every frame published to vigie.frames.v1, timed until the last ObjectsDetected is
               read from vigie.detections.v1 (a fresh runtime per run, warmed by one frame first)
  noscene-b1   (--no-scene-row) service-b1 with SCENE_STAGE=false: the service's plumbing
               without the scene stage's image work
  service-b4   the same, MAX_BATCH=4, MAX_WAIT_MS=20
  service-b8   the same, MAX_BATCH=8, MAX_WAIT_MS=20
  still-all    the first --still-frames (100 = 20 s) sampled frames of the carpark clip (parked
               cars: long still periods), one camera, service MAX_BATCH=1, MIN_MOTION=0
  still-skip   the same with MIN_MOTION=--min-motion (0.002, ingest's gate) and MAX_SKIP_S=2:
               fraction of frames analysed, effective frames/s = input frames / wall time

Before the rounds, the first service start of the process checks OpenCV's thread count as
deployed (after the model load, and after the first frame, whose tracker imports Ultralytics).
The bench then runs every mode with the same thread count (each model load sets it again).

Throughput is wall-clock frames/s (time.perf_counter): inference uses several threads. Ratios are
computed within each round (paired runs) and the table shows their median and min-max over the
rounds. Prints one table and writes bench/results/detect-<date>.json. --profile adds one untimed
service-b1 run under cProfile (event-loop thread and batcher worker thread profiled separately,
written to bench/results/profile-detect-<date>.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import logging
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
DEFAULT_CLIPS = REPO.parent / "shared" / "data" / "clips"
MOTION_CLIP = "carpark_topdown"
STARTED = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)  # stream start: captured_at = this + pts

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from prometheus_client import REGISTRY  # noqa: E402
from vigie.camera.v1.camera_pb2 import SOURCE_KIND_FILE  # noqa: E402
from vigie.ingest.v1.frame_pb2 import FrameSampled  # noqa: E402
from vigie_core.bus.base import murmur2_partition  # noqa: E402
from vigie_core.bus.memory import MemoryBus  # noqa: E402
from vigie_core.runtime import start  # noqa: E402
from vigie_core.settings import CoreSettings  # noqa: E402
from vigie_core.topics import DETECTIONS, FRAMES  # noqa: E402
from vigie_detect.adapters.backends import load_detector, model_store  # noqa: E402
from vigie_detect.adapters.batcher import Batcher  # noqa: E402
from vigie_detect.app import detector_settings  # noqa: E402
from vigie_detect.config import Settings  # noqa: E402
from vigie_detect.domain.selection import MotionSkip  # noqa: E402
from vigie_ingest.adapters.frames import grey_thumbnail  # noqa: E402
from vigie_ingest.adapters.runner import FramePipeline, RunnerSettings, frame_event  # noqa: E402
from vigie_ingest.domain.sampling import FrameGate  # noqa: E402

BATCH_MODES = ("bare-b1", "bare-b4", "service-b1", "service-b4", "service-b8")
STILL_MODES = ("still-all", "still-skip")
MODES = BATCH_MODES + STILL_MODES


# ------------------------------------------------------------------------------ input frames
@dataclass
class Camera:
    camera_id: str
    clip: Path
    frames: list[FrameSampled]
    source_size: tuple[int, int]
    ingest_gated: int = 0  # of these frames, how many ingest itself would publish (gate 0.002)


def sample_clip(clip: Path, camera_id: str, limit: int | None, ingest: RunnerSettings) -> Camera:
    """The clip's frames as ingest publishes them (motion gate off: every 5 fps frame, scored)."""
    pipeline = FramePipeline(FrameGate(ingest.sample_fps, 0.0, ingest.keepalive_s), ingest)
    # Ingest's real gate, replayed alongside on the same thumbnails: what it would drop itself.
    gate = FrameGate(ingest.sample_fps, ingest.min_motion, ingest.keepalive_s)
    frames: list[FrameSampled] = []
    gated = 0
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        for decoded in container.decode(stream):
            if decoded.pts is None or decoded.time_base is None:
                continue
            pts_s = float(decoded.pts * decoded.time_base)
            sampled = pipeline.sample(pts_s, decoded)
            if sampled is None:
                continue
            gate.due(pts_s)
            gated += gate.publish(pts_s, grey_thumbnail(decoded))[0]
            frames.append(frame_event(camera_id, len(frames), STARTED, sampled, SOURCE_KIND_FILE))
            if limit is not None and len(frames) >= limit:
                break
    return Camera(camera_id, clip, frames, size, gated)


def interleave(cameras: list[Camera]) -> list[FrameSampled]:
    out: list[FrameSampled] = []
    for i in range(max(len(c.frames) for c in cameras)):
        out.extend(c.frames[i] for c in cameras if i < len(c.frames))
    return out


# ------------------------------------------------------------------------------------- runs
@dataclass
class Run:
    mode: str
    frames: int  # input frames
    wall_s: float
    cpu_s: float
    analysed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s

    def row(self) -> dict[str, Any]:
        return {"mode": self.mode, "frames": self.frames, "analysed": self.analysed,
                "wall_s": round(self.wall_s, 4), "cpu_s": round(self.cpu_s, 4),
                "fps": round(self.fps, 3), **self.extra}


def bare_run(detector: Any, jpegs: list[bytes], batch: int, mode: str,
             threads: int | None = None) -> Run:
    """The reference: decode + detect, no bus, no tracking, no protobuf."""
    if threads is not None:
        previous = cv2.getNumThreads()
        cv2.setNumThreads(threads)
        try:
            return bare_run(detector, jpegs, batch, mode)
        finally:
            cv2.setNumThreads(previous)
    decode_s = detect_s = 0.0
    objects = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in range(0, len(jpegs), batch):
        a = time.perf_counter()
        images = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR)
                  for j in jpegs[i:i + batch]]
        b = time.perf_counter()
        found = detector.detect(images)
        detect_s += time.perf_counter() - b
        decode_s += b - a
        objects += sum(len(f) for f in found)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return Run(mode, len(jpegs), wall, cpu, len(jpegs),
               {"decode_s": round(decode_s, 4), "model_s": round(detect_s, 4),
                "opencv_threads": cv2.getNumThreads(),
                "objects": objects})


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def service_metrics() -> dict[str, float]:
    return {"model_s": metric("vigie_detect_inference_seconds_sum"),
            "batches": metric("vigie_detect_batch_size_count"),
            "batched_frames": metric("vigie_detect_batch_size_sum"),
            "analysed": metric("vigie_detect_frames_total", outcome="analysed"),
            "skipped": metric("vigie_detect_frames_total", outcome="skipped_no_motion"),
            "objects": metric("vigie_detect_objects_total")}


def expected_analysed(frames: list[FrameSampled], min_motion: float, max_skip_s: float) -> int:
    """How many frames the service will analyse: its own MotionSkip replayed."""
    skip = MotionSkip(min_motion, max_skip_s)
    return sum(skip.analyse(f.camera_id, f.captured_at.ToNanoseconds() / 1e9, f.motion_score)
               for f in frames)


async def _service(frames: list[FrameSampled], warmup: list[FrameSampled], detect: dict[str, Any],
                   mode: str, profile: Callable[[], Any] | None = None) -> Run:
    expected = expected_analysed(frames, detect["min_motion"], detect["max_skip_s"])
    bus = MemoryBus("bench-detect")
    with tempfile.TemporaryDirectory() as tmp:
        running = await start(["detect"], CoreSettings(http_port=0, grpc_port=0,
                                                       data_dir=Path(tmp)),
                              bus, {"detect": detect})
        try:
            reader = bus.consumer("bench-reader", [DETECTIONS.name])
            # One frame of each camera's size first, on cameras of their own: a fresh net's
            # first forward pass at an input shape (and the first tracker, which imports
            # Ultralytics once per process) is not steady state. The bare loop's detector is
            # warmed on the same shapes.
            for frame in warmup:
                await bus.publish(FRAMES, frame.camera_id, frame, event_id=frame.frame_id)
            for _ in warmup:
                if await reader.poll(120) is None:
                    raise RuntimeError("no detections for the warm-up frames")
            before = service_metrics()
            profiler = profile() if profile else None

            async def publish() -> None:
                for f in frames:
                    await bus.publish(FRAMES, f.camera_id, f, event_id=f.frame_id)

            cpu0, t0 = time.process_time(), time.perf_counter()
            publisher = asyncio.create_task(publish())
            received: list[Any] = []
            deadline = t0 + 600
            while len(received) < expected:
                record = await reader.poll(1.0)
                if record is not None:
                    received.append(record)
                elif time.perf_counter() > deadline:
                    raise RuntimeError(f"{mode}: {len(received)}/{expected} detections")
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            if profiler is not None:
                profiler.disable()
            await publisher
            after = service_metrics()
            await reader.close()
        finally:
            await running.stop()
    delta = {k: after[k] - before[k] for k in after}
    if delta["analysed"] != expected:
        raise RuntimeError(f"{mode}: analysed {delta['analysed']}, expected {expected}")
    keys = {r.key for r in received}
    return Run(mode, len(frames), wall, cpu, expected,
               {"model_s": round(delta["model_s"], 4), "skipped": int(delta["skipped"]),
                "opencv_threads": cv2.getNumThreads(),
                "mean_batch": round(delta["batched_frames"] / max(1, delta["batches"]), 3),
                "objects": int(delta["objects"]), "cameras": len(keys)})


def warm_up_frame(frame: FrameSampled, camera_id: str) -> FrameSampled:
    """A copy of `frame` on a camera of its own (so the timed cameras start fresh)."""
    out = FrameSampled()
    out.CopyFrom(frame)
    out.camera_id, out.frame_id = camera_id, f"{camera_id}:0"
    return out


def service_run(frames: list[FrameSampled], warmup: list[FrameSampled], detect: dict[str, Any],
                mode: str) -> Run:
    return asyncio.run(_service(frames, warmup, detect, mode))


async def _deployed_threads(warmup: FrameSampled, detect: dict[str, Any]) -> dict[str, int]:
    bus = MemoryBus("bench-detect-threads")
    with tempfile.TemporaryDirectory() as tmp:
        running = await start(["detect"], CoreSettings(http_port=0, grpc_port=0,
                                                       data_dir=Path(tmp)),
                              bus, {"detect": detect})
        try:
            loaded = cv2.getNumThreads()
            reader = bus.consumer("bench-reader", [DETECTIONS.name])
            await bus.publish(FRAMES, warmup.camera_id, warmup, event_id=warmup.frame_id)
            if await reader.poll(120) is None:
                raise RuntimeError("no detections for the thread-check frame")
            after = cv2.getNumThreads()
            await reader.close()
        finally:
            await running.stop()
    return {"after_model_load": loaded, "after_first_frame": after}


def deployed_threads(warmup: FrameSampled, detect: dict[str, Any]) -> dict[str, int]:
    """OpenCV's thread count in a process that runs the detect service as deployed: after the
    model load (which sets THREADS) and after the first frame (the first tracker imports
    Ultralytics, whose import runs cv2.setNumThreads(0); import_ultralytics puts the count back,
    so both should be THREADS). Must run before anything else in this process imports
    Ultralytics."""
    if "ultralytics" in sys.modules:
        raise RuntimeError("ultralytics already imported: the check would not see its import")
    return asyncio.run(_deployed_threads(warmup, detect))


# ---------------------------------------------------------------------------------- profile
def profile_service(frames: list[FrameSampled], warmup: list[FrameSampled],
                    detect: dict[str, Any], top: int) -> str:
    """One service run with cProfile on the event loop thread and, separately, on the batcher's
    inference thread (Batcher._infer) and its behind thread (Batcher._track: tracking and the
    scene stage), wrapped for this run only, in this process."""
    originals = {"_infer": Batcher._infer, "_track": Batcher._track}
    profilers = {name: cProfile.Profile() for name in originals}

    def profiled(name: str) -> Callable[..., Any]:
        def run(self: Batcher, work: Any) -> Any:
            profilers[name].enable()
            try:
                return originals[name](self, work)
            finally:
                profilers[name].disable()
        return run

    loop_profiler = cProfile.Profile()

    def make() -> cProfile.Profile:
        loop_profiler.enable()
        return loop_profiler

    for name in originals:
        setattr(Batcher, name, profiled(name))
    try:
        run = asyncio.run(_service(frames, warmup, detect, "profile-service-b1", make))
    finally:
        for name, original in originals.items():
            setattr(Batcher, name, original)
    out = io.StringIO()
    out.write(f"service-b1 under cProfile: {run.frames} frames in {run.wall_s:.2f} s "
              f"({run.fps:.2f} frames/s, profiler overhead included)\n")
    for title, prof in (("event-loop thread", loop_profiler),
                        ("batcher inference thread", profilers["_infer"]),
                        ("batcher behind thread (tracking, scene stage)", profilers["_track"])):
        for key in ("tottime", "cumulative"):
            out.write(f"\n=== {title}, by {key} ===\n")
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats(key).print_stats(top)
    return out.getvalue()


# ------------------------------------------------------------------------------------ table
def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    m = format(med(values), fmt)
    if len(values) == 1:
        return m
    return f"{m} [{format(min(values), fmt)}-{format(max(values), fmt)}]"


def ratios(runs: dict[str, list[Run]], num: str, den: str, key: Callable[[Run], float]
           ) -> list[float]:
    return [key(a) / key(b) for a, b in zip(runs[num], runs[den], strict=True)]


def report(runs: dict[str, list[Run]], still_frames: int) -> tuple[str, dict[str, Any]]:
    fps = {m: [r.fps for r in rs] for m, rs in runs.items()}
    fr = lambda r: r.fps  # noqa: E731
    summary: dict[str, Any] = {}
    lines = []
    head = (f"{'mode':<12} {'frames/s':>22} {'ms/frame':>8} {'model%':>7} {'other ms':>8} "
            f"{'cpu/wall':>8}  {'ratio':>20} {'cpu ms':>6} {'cpu ratio':>9}  vs")
    lines += [head, "-" * len(head)]

    def row(mode: str, ratio: list[float] | None, vs: str, note: str = "") -> None:
        cpu_ms = med([r.cpu_s / r.frames * 1000 for r in runs[mode]])
        cpu_ratio = ([b.cpu_s / b.frames / (a.cpu_s / a.frames)
                      for a, b in zip(runs[mode], runs[vs], strict=True)] if vs else None)
        ms = 1000 / med(fps[mode])
        model = med([r.extra["model_s"] / r.wall_s * 100 for r in runs[mode]])
        other = med([(r.wall_s - r.extra["model_s"]) / r.frames * 1000 for r in runs[mode]])
        cores = med([r.cpu_s / r.wall_s for r in runs[mode]])
        lines.append(f"{mode:<12} {spread(fps[mode], '.2f'):>22} {ms:>8.1f} {model:>6.0f}% "
                     f"{other:>8.1f} {cores:>8.2f}  "
                     f"{spread(ratio, '.3f') if ratio else '1 (ref)':>20} {cpu_ms:>6.1f} "
                     f"{format(med(cpu_ratio), '.3f') if cpu_ratio else '1':>9}  {vs}{note}")
        summary[mode] = {"fps_median": round(med(fps[mode]), 3),
                         "fps_min": round(min(fps[mode]), 3), "fps_max": round(max(fps[mode]), 3),
                         "ms_per_frame": round(ms, 2), "model_share": round(model / 100, 3),
                         "other_ms_per_frame": round(other, 2), "cpu_per_wall": round(cores, 3),
                         "cpu_ms_per_frame": round(cpu_ms, 2),
                         "cpu_ratio_median": round(med(cpu_ratio), 4) if cpu_ratio else None,
                         "ratio_vs": vs or None,
                         "ratio_median": round(med(ratio), 4) if ratio else None,
                         "ratio_min": round(min(ratio), 4) if ratio else None,
                         "ratio_max": round(max(ratio), 4) if ratio else None}

    row("bare-b1", None, "")
    if runs.get("bare-b1-t1"):
        row("bare-b1-t1", ratios(runs, "bare-b1-t1", "bare-b1", fr), "bare-b1",
            "  (1 OpenCV thread)")
    row("bare-b4", ratios(runs, "bare-b4", "bare-b1", fr), "bare-b1", "  (batching in OpenCV DNN)")
    row("service-b1", ratios(runs, "service-b1", "bare-b1", fr), "bare-b1",
        "  (service overhead)")
    if runs.get("noscene-b1"):
        row("noscene-b1", ratios(runs, "noscene-b1", "bare-b1", fr), "bare-b1",
            "  (scene stage off)")
    for b in ("service-b4", "service-b8"):
        row(b, ratios(runs, b, "service-b1", fr), "service-b1")
        summary[b]["vs_bare_b1_median"] = round(med(ratios(runs, b, "bare-b1", fr)), 4)
        summary[b]["mean_batch"] = med([r.extra["mean_batch"] for r in runs[b]])
    lines.append("")
    row("still-all", None, "", f"  ({still_frames} frames of {MOTION_CLIP}, 1 camera)")
    skip = runs["still-skip"]
    share = [r.analysed / r.frames for r in skip]
    row("still-skip", ratios(runs, "still-skip", "still-all", fr), "still-all",
        f"  (analysed {spread([s * 100 for s in share], '.0f')} % of frames)")
    summary["still-skip"]["analysed_share"] = round(med(share), 4)
    lines.append("")
    lines.append("frames/s: input frames per wall second, median [min-max] over the rounds; "
                 "ratio: per round, then median [min-max];")
    lines.append("model%: share of the wall time inside detector.detect (bare loop: timed; "
                 "service: vigie_detect_inference_seconds); other ms: wall minus model time, per")
    lines.append("input frame (decode, tracking, protobuf, bus, batch waits); cpu/wall: process "
                 "CPU seconds per wall second (~ cores busy);")
    lines.append("cpu ms: process CPU time per input frame; cpu ratio: the same ratio on CPU time "
                 "(median of rounds), steadier than wall time when other processes load the "
                 "machine.")
    return "\n".join(lines), summary


# ------------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 12 frames per camera, "
                        "the first 50 carpark frames")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 3, --quick 1)")
    parser.add_argument("--frames", type=int, help="frames per camera (default 30, --quick 12)")
    parser.add_argument("--still-frames", type=int, help="carpark frames for the motion "
                        "modes (default 100 = 20 s; 0: the whole clip, 151; --quick 50)")
    parser.add_argument("--t1-row", action="store_true",
                        help="add bare-b1-t1: the bare loop with 1 OpenCV thread")
    parser.add_argument("--no-scene-row", action="store_true",
                        help="add noscene-b1: service-b1 with the scene stage off")
    parser.add_argument("--threads", type=int, default=0,
                        help="OpenCV threads, bare and service alike (default 0: every core)")
    parser.add_argument("--min-motion", type=float, default=0.002,
                        help="MIN_MOTION of still-skip (default 0.002, ingest's gate)")
    parser.add_argument("--max-skip-s", type=float, default=2.0, help="MAX_SKIP_S of still-skip")
    parser.add_argument("--max-wait-ms", type=float, default=20.0)
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--profile", action="store_true",
                        help="add one untimed service-b1 run under cProfile")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    per_camera = args.frames or (12 if args.quick else 30)
    still_limit = args.still_frames if args.still_frames is not None else (
        50 if args.quick else 100)
    still_limit = still_limit or None
    threads = args.threads or os.cpu_count() or 1
    logging.basicConfig(level=logging.WARNING)

    clips = sorted(args.clips.glob("*.mp4"))
    if len(clips) < 1 or not (args.clips / f"{MOTION_CLIP}.mp4").is_file():
        print(f"SKIP: no clips (need {MOTION_CLIP}.mp4) in {args.clips}")
        return 0
    clips = clips[:4]
    while len(clips) < 4:  # fewer clips: the same clip under several camera ids
        clips.append(clips[len(clips) % len(clips)])

    bench_started = time.perf_counter()
    ingest = RunnerSettings()  # the ingest defaults: 5 fps, 960x540, q80, gate 0.002
    cameras = [sample_clip(c, f"cam-{i}-{c.stem}", per_camera, ingest)
               for i, c in enumerate(clips)]
    still = sample_clip(args.clips / f"{MOTION_CLIP}.mp4", f"cam-still-{MOTION_CLIP}",
                        still_limit, ingest)
    frames = interleave(cameras)
    jpegs = [f.jpeg for f in frames]
    warmup = [warm_up_frame(c.frames[0], f"cam-warmup-{i}") for i, c in enumerate(cameras)]
    prep_s = time.perf_counter() - bench_started
    print(f"input ({prep_s:.1f} s): {len(frames)} frames from {len(cameras)} cameras "
          f"({per_camera}/camera), mean JPEG {sum(map(len, jpegs)) / len(jpegs) / 1024:.1f} KiB; "
          f"{len(still.frames)} {MOTION_CLIP} frames for the motion modes; "
          f"{threads} OpenCV threads; loadavg {os.getloadavg()[0]:.2f}")
    for c in cameras:
        f = c.frames[0]
        print(f"  {c.camera_id:<34} {c.source_size[0]}x{c.source_size[1]} -> "
              f"{f.width}x{f.height}, {len(c.frames)} frames, partition "
              f"{murmur2_partition(c.camera_id.encode(), FRAMES.partitions)}")

    base = {"max_wait_ms": args.max_wait_ms, "min_motion": 0.0, "max_skip_s": 5.0,
            "threads": threads, "model": "yolov3-tiny"}
    # First service start of this process, as deployed; it also imports Ultralytics (once per
    # process), after which every model load below sets the thread count again.
    threads_check = deployed_threads(warmup[0], {**base, "max_batch": 1})
    print(f"OpenCV threads in a fresh service process: {threads_check['after_model_load']} "
          f"after the model load (THREADS={threads}), {threads_check['after_first_frame']} after "
          f"the first frame")

    resolved = model_store(CoreSettings().models_dir).resolve("yolov3-tiny")
    # The service's own detector options (from the same settings), so that both sides run the
    # same network inputs: like with like.
    detector = load_detector(resolved, detector_settings(Settings(**{**base, "max_batch": 1})))
    options = detector.options  # type: ignore[attr-defined]
    shape = (f"input {options.input_size}"
             f"{' keep_aspect' if getattr(options, 'keep_aspect', False) else ' square'}")
    for frame in warmup:  # every input shape's net set up, as the service's are
        detector.detect([cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)])

    still_warmup = [warm_up_frame(still.frames[0], "cam-warmup")]
    todo: dict[str, Callable[[], Run]] = {
        "bare-b1": lambda: bare_run(detector, jpegs, 1, "bare-b1"),
        "bare-b1-t1": lambda: bare_run(detector, jpegs, 1, "bare-b1-t1", threads=1),
        "bare-b4": lambda: bare_run(detector, jpegs, 4, "bare-b4"),
        "service-b1": lambda: service_run(frames, warmup, {**base, "max_batch": 1}, "service-b1"),
        "noscene-b1": lambda: service_run(frames, warmup, {**base, "max_batch": 1,
                                                           "scene_stage": False}, "noscene-b1"),
        "service-b4": lambda: service_run(frames, warmup, {**base, "max_batch": 4}, "service-b4"),
        "service-b8": lambda: service_run(frames, warmup, {**base, "max_batch": 8}, "service-b8"),
        "still-all": lambda: service_run(still.frames, still_warmup, {**base, "max_batch": 1},
                                         "still-all"),
        "still-skip": lambda: service_run(still.frames, still_warmup,
                                          {**base, "max_batch": 1, "min_motion": args.min_motion,
                                           "max_skip_s": args.max_skip_s}, "still-skip"),
    }
    modes = (*MODES[:1], *(("bare-b1-t1",) if args.t1_row else ()), *MODES[1:3],
             *(("noscene-b1",) if args.no_scene_row else ()), *MODES[3:])
    runs: dict[str, list[Run]] = {m: [] for m in modes}
    loads = []
    for r in range(rounds):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for mode in order:
            run = todo[mode]()
            runs[mode].append(run)
            loads.append(os.getloadavg()[0])
            print(f"  round {r + 1}/{rounds} {mode:<11} {run.fps:7.2f} frames/s "
                  f"({run.analysed}/{run.frames} analysed, {run.wall_s:.2f} s, "
                  f"loadavg {loads[-1]:.2f})", flush=True)

    profile_text = None
    if args.profile:
        profile_text = profile_service(frames, warmup, {**base, "max_batch": 1}, args.profile_top)

    table, summary = report(runs, len(still.frames))
    total_s = time.perf_counter() - bench_started
    print()
    print(f"Detect throughput, yolov3-tiny ({detector.model_id}, {shape}), OpenCV "
          f"{cv2.__version__}, {threads} threads, {os.cpu_count()} cores, {rounds} round(s), "
          f"{len(frames)} frames / 4 cameras")
    print(table)
    print(f"ingest's own gate ({ingest.min_motion}, keepalive {ingest.keepalive_s:g} s) would "
          f"publish {still.ingest_gated}/{len(still.frames)} of the {MOTION_CLIP} frames; "
          f"total {total_s:.0f} s, loadavg during runs {min(loads):.2f}-{max(loads):.2f}")

    stamp = datetime.now().strftime("%Y-%m-%d-%H%M%S")
    out = args.out or RESULTS / f"detect-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if profile_text is not None:
        profile_path = out.with_name(f"profile-detect-{stamp}.txt")
        profile_path.write_text(profile_text)
        print(f"profile: {profile_path}")
        print("\n".join(profile_text.splitlines()[:60]))
    result = {
        "benchmark": "detect", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "rounds": rounds, "threads": threads,
        "model": {"id": detector.model_id, "source": str(resolved.source),
                  "options": vars(options) if hasattr(options, "__dict__") else str(options)},
        "input": {"cameras": [{"camera_id": c.camera_id, "clip": c.clip.name,
                               "source_size": c.source_size,
                               "size": [c.frames[0].width, c.frames[0].height],
                               "frames": len(c.frames),
                               "jpeg_bytes_mean": round(statistics.mean(
                                   len(f.jpeg) for f in c.frames))} for c in cameras],
                  "still": {"clip": still.clip.name, "frames": len(still.frames),
                            "motion_scores": [round(f.motion_score, 5) for f in still.frames],
                            "ingest_gate_publishes": still.ingest_gated},
                  "sample_fps": ingest.sample_fps, "jpeg_quality": ingest.jpeg_quality,
                  "max_size": [ingest.max_width, ingest.max_height]},
        "service_settings": {"base": base, "still_skip": {"min_motion": args.min_motion,
                                                          "max_skip_s": args.max_skip_s}},
        "summary": summary,
        "runs": {m: [r.row() for r in rs] for m, rs in runs.items()},
        "opencv_threads_deployed": threads_check,
        "table": table,
        "env": {"python": sys.version.split()[0], "platform": platform.platform(),
                "cpus": os.cpu_count(), "opencv": cv2.__version__, "numpy": np.__version__,
                "pyav": av.__version__, "loadavg_runs": [min(loads), max(loads)],
                "loadavg_end": os.getloadavg(), "prep_s": round(prep_s, 2),
                "total_s": round(total_s, 1)},
    }
    out.write_text(json.dumps(result, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

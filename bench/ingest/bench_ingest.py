"""Ingest decode/sample/encode throughput against the ffmpeg CLI, per clip, on one core.

    ~/.cache/vigie/venv/bin/python bench/ingest/bench_ingest.py [--quick] [--clips DIR]

For every .mp4 in the clips folder (default <repo>/../shared/data/clips), in the same run, rounds
interleaved, everything single-threaded (see bench/ingest/README.md):

  * ffmpeg        reference: `ffmpeg -hide_banner -nostats -threads 1 -i CLIP -map 0:v:0
                  -benchmark -f null -` (video stream only). CPU: its -benchmark utime+stime
                  (decode loop only); the whole-process getrusage(RUSAGE_CHILDREN) delta, which
                  adds ~0.1 s of exec + library loading per run, is shown and saved too
  * decode        VideoSource.open() + frames(), with the decoder forced to one thread after open
                  (VideoSource sets thread_type AUTO; the bench overrides it)
  * ingest        decode + FramePipeline at the default settings (5 fps sampling by stream time,
                  motion gate 0.002, keepalive 10 s, 960x540 cap, JPEG q80) + frame_event(...)
                  .SerializeToString() + the metrics decode_into/_publish bump
  * every-frame   the same with every decoded frame sampled and published (no gating): the
                  per-frame cost of thumbnail + JPEG + protobuf

Frames/s are computed on CPU time (time.process_time for Vigie, ffmpeg's -benchmark / getrusage):
both sides are single-threaded, so CPU time is what one dedicated core would take, and it moves
much less than wall time when other processes load the machine. Wall-clock frames/s
(time.perf_counter) are printed and saved too. Prints a table and writes
bench/results/ingest-<date>.json. `--profile` runs the ingest path once per clip under cProfile;
`--try-frombuffer` adds runs with the suggested analysis_jpeg change patched in (bench process
only).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import os
import platform
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
DEFAULT_CLIPS = REPO.parent / "shared" / "data" / "clips"

import av  # noqa: E402
import numpy  # noqa: E402
import PIL  # noqa: E402
from PIL import Image  # noqa: E402
from vigie.camera.v1.camera_pb2 import SOURCE_KIND_FILE  # noqa: E402
from vigie.common.v1.common_pb2 import GeoPoint  # noqa: E402
from vigie_ingest import metrics  # noqa: E402
from vigie_ingest.adapters import runner as runner_module  # noqa: E402
from vigie_ingest.adapters.runner import FramePipeline, RunnerSettings, frame_event  # noqa: E402
from vigie_ingest.adapters.source import SourceLimits, VideoSource  # noqa: E402
from vigie_ingest.config import Settings  # noqa: E402
from vigie_ingest.domain.sampling import FrameGate, fit_within  # noqa: E402

CAMERA_ID = "cam-bench-0001"
GEO = GeoPoint(lat_deg=48.8566, lon_deg=2.3522)
EVERY_FRAME_FPS = 1000.0  # a sampling grid finer than any source: every decoded frame is due
MODES = ("ffmpeg", "decode", "ingest", "every-frame")
VARIANT_MODES = ("ingest+frombuffer", "every-frame+frombuffer")


@dataclass
class Run:
    frames: int  # decoded (source) frames
    cpu_s: float
    wall_s: float
    published: int = 0
    jpeg_bytes: int = 0
    event_bytes: int = 0
    decoder_threads: int = 0  # FFmpeg worker threads seen while decoding (0 = single-threaded)
    minor_faults: int = 0  # page faults during the run (fresh memory being touched)
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {"frames": self.frames, "cpu_s": round(self.cpu_s, 4),
                "wall_s": round(self.wall_s, 4), "published": self.published,
                "jpeg_bytes": self.jpeg_bytes, "event_bytes": self.event_bytes,
                "decoder_threads": self.decoder_threads,
                "minor_faults": self.minor_faults, **self.extra}


@dataclass
class Clip:
    path: Path
    width: int
    height: int
    fps: float
    duration_s: float
    frames: int
    codec: str
    profile: str
    runs: dict[str, list[Run]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------- probing
def probe(path: Path) -> Clip:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = (container.duration or 0) / av.time_base
        rate = stream.average_rate or stream.base_rate or 0
        return Clip(path, ctx.width, ctx.height, float(rate), duration, stream.frames or 0,
                    ctx.name, ctx.profile or "")


def decoder_threads() -> int:
    """FFmpeg's own worker threads in this process (named "av:<codec>:..." by PyAV's FFmpeg)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return -1
    count = 0
    for task in tasks:
        try:
            count += Path(f"/proc/self/task/{task}/comm").read_text().startswith("av:")
        except OSError:
            pass
    return count


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# --------------------------------------------------------------------------------- the modes
def run_ffmpeg(ffmpeg: str, clip: Clip) -> Run:
    cmd = [ffmpeg, "-hide_banner", "-nostats", "-threads", "1", "-i", str(clip.path),
           "-map", "0:v:0", "-benchmark", "-f", "null", "-"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed on {clip.path.name}: {proc.stderr[-500:]}")
    frames = [int(m) for m in re.findall(r"frame=\s*(\d+)", proc.stderr)]
    bench = re.search(r"bench: utime=([\d.]+)s stime=([\d.]+)s rtime=([\d.]+)s", proc.stderr)
    user = after.ru_utime - before.ru_utime
    system = after.ru_stime - before.ru_stime
    if bench is None:
        raise RuntimeError(f"no -benchmark line in ffmpeg's output for {clip.path.name}")
    # cpu_s: ffmpeg's own -benchmark count, which covers its transcode loop only (what the Vigie
    # side times); the process total from getrusage adds ~0.1 s of exec + shared-library loading
    # + option parsing + input probing per run, a large share of a 0.5 s run.
    loop_cpu = float(bench[1]) + float(bench[2])
    extra = {"process_cpu_s": round(user + system, 4), "process_user_s": round(user, 4),
             "process_sys_s": round(system, 4), "loop_wall_s": float(bench[3])}
    return Run(frames[-1] if frames else clip.frames, loop_cpu, wall, extra=extra)


def open_single_threaded(clip: Clip) -> VideoSource:
    source = VideoSource(f"file://{clip.path}", SourceLimits(media_root=clip.path.parent))
    source.open()
    # VideoSource.open() sets thread_type AUTO (frame + slice threads, one per core). The codec
    # is only opened at the first decode, so overriding here makes the decoder single-threaded,
    # like `ffmpeg -threads 1`.
    ctx = source._container.streams.video[0].codec_context
    ctx.thread_type = "SLICE"
    ctx.thread_count = 1
    return source


def run_decode(clip: Clip) -> Run:
    f0 = minor_faults()
    c0, t0 = time.process_time(), time.perf_counter()
    source = open_single_threaded(clip)
    frames, threads = 0, 0
    try:
        for _decoded in source.frames():
            frames += 1
            if frames == 2:
                threads = decoder_threads()
    finally:
        source.close()
    return Run(frames, time.process_time() - c0, time.perf_counter() - t0,
               decoder_threads=threads, minor_faults=minor_faults() - f0)


def pipeline_for(mode: str, settings: Settings) -> tuple[FramePipeline, RunnerSettings]:
    runner = RunnerSettings(sample_fps=settings.sample_fps, min_motion=settings.min_motion,
                            keepalive_s=settings.keepalive_s, jpeg_quality=settings.jpeg_quality,
                            max_width=settings.analysis_max_width,
                            max_height=settings.analysis_max_height)
    if mode == "every-frame":  # every decoded frame is due and passes the gate (motion >= 0)
        gate = FrameGate(EVERY_FRAME_FPS, 0.0, runner.keepalive_s)
    else:
        gate = FrameGate(runner.sample_fps, runner.min_motion, runner.keepalive_s)
    return FramePipeline(gate, runner), runner


def analysis_jpeg_frombuffer(frame: av.VideoFrame, max_width: int, max_height: int,
                             quality: int) -> tuple[bytes, int, int]:
    """--try-frombuffer: frames.analysis_jpeg with PIL reading the rgb24 plane in place instead
    of VideoFrame.to_image() (which copies the picture twice into fresh Python buffers first).
    Same pixels, byte-identical JPEG; not used by the service."""
    width, height = fit_within(frame.width, frame.height, max_width, max_height)
    plane = frame.reformat(width=width, height=height, format="rgb24").planes[0]
    image = Image.frombuffer("RGB", (width, height), memoryview(plane), "raw", "RGB",  # type: ignore[arg-type]
                             plane.line_size, 1)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=False)
    return out.getvalue(), width, height


def run_ingest(clip: Clip, mode: str, settings: Settings) -> Run:
    """decode_into's loop body and CameraRunner._publish's event building, without the asyncio
    queue hop or Kafka: decode -> sample (grid, motion gate, JPEG) -> FrameSampled -> bytes."""
    if mode.endswith("+frombuffer"):
        original = runner_module.analysis_jpeg
        runner_module.analysis_jpeg = analysis_jpeg_frombuffer
        try:
            return run_ingest(clip, mode.removesuffix("+frombuffer"), settings)
        finally:
            runner_module.analysis_jpeg = original
    pipeline, _ = pipeline_for(mode, settings)
    clock = time.process_time
    sample_s = event_s = 0.0
    frames = published = jpeg_bytes = event_bytes = threads = 0
    f0 = minor_faults()
    c0, t0 = clock(), time.perf_counter()
    source = open_single_threaded(clip)
    started = datetime.now(UTC)
    try:
        for decoded in source.frames():
            metrics.DECODED.inc()
            frames += 1
            if frames == 2:
                threads = decoder_threads()
            s0 = clock()
            sampled = pipeline.sample(decoded.pts_s, decoded.frame)
            s1 = clock()
            sample_s += s1 - s0
            if sampled is None:
                continue
            payload = frame_event(CAMERA_ID, published, started, sampled, SOURCE_KIND_FILE,
                                  GEO).SerializeToString()
            published += 1
            metrics.PUBLISHED.labels("camera").inc()
            metrics.PUBLISHED_BYTES.inc(len(sampled.jpeg))
            jpeg_bytes += len(sampled.jpeg)
            event_bytes += len(payload)
            event_s += clock() - s1
    finally:
        source.close()
    cpu, wall = clock() - c0, time.perf_counter() - t0
    return Run(frames, cpu, wall, published, jpeg_bytes, event_bytes, threads,
               minor_faults() - f0,
               extra={"sample_cpu_s": round(sample_s, 4), "event_cpu_s": round(event_s, 4)})


# ------------------------------------------------------------------------------------ profile
def profile_ingest(clip: Clip, settings: Settings, mode: str, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run_ingest(clip, mode, settings)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# ------------------------------------------------------------------------------------ summary
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(clip: Clip) -> dict[str, Any]:
    def fps(mode: str, clock: str = "cpu_s") -> float:
        return median([r.frames / getattr(r, clock) for r in clip.runs[mode]])

    def cpu(mode: str) -> float:
        return median([r.cpu_s for r in clip.runs[mode]])

    ffmpeg = clip.runs["ffmpeg"]
    ref_cpu, ref_wall = fps("ffmpeg"), fps("ffmpeg", "wall_s")
    ref_process = median([r.frames / r.extra["process_cpu_s"] for r in ffmpeg])
    frames = clip.runs["decode"][0].frames
    out: dict[str, Any] = {
        "clip": clip.path.name, "codec": f"{clip.codec} {clip.profile}".strip(),
        "width": clip.width, "height": clip.height, "source_fps": round(clip.fps, 3),
        "duration_s": round(clip.duration_s, 3), "frames": frames,
        "ffmpeg_frames": ffmpeg[0].frames,
        "ffmpeg_fps": round(ref_cpu, 1), "ffmpeg_fps_process": round(ref_process, 1),
        "ffmpeg_fps_wall": round(ref_wall, 1),
        "ffmpeg_cameras_per_core": round(clip.duration_s / cpu("ffmpeg"), 2),
        "decoder_threads": max(r.decoder_threads for m in clip.runs if m != "ffmpeg"
                               for r in clip.runs[m]),
    }
    for mode in [m for m in clip.runs if m != "ffmpeg"]:
        key = mode.replace("-", "_").replace("+", "_")
        run = clip.runs[mode][0]  # counts are deterministic across rounds (same frames, JPEGs)
        c, w = fps(mode), fps(mode, "wall_s")
        out[f"{key}_fps"] = round(c, 1)
        out[f"{key}_fps_wall"] = round(w, 1)
        out[f"{key}_ratio"] = round(c / ref_cpu, 3)
        out[f"{key}_ratio_process"] = round(c / ref_process, 3)
        out[f"{key}_ratio_wall"] = round(w / ref_wall, 3)
        out[f"{key}_cpu_s_per_video_s"] = round(cpu(mode) / clip.duration_s, 4)
        out[f"{key}_cameras_per_core"] = round(clip.duration_s / cpu(mode), 2)
        out[f"{key}_minor_faults_per_frame"] = round(
            median([r.minor_faults for r in clip.runs[mode]]) / frames, 1)
        if mode == "decode":
            continue
        published = max(1, run.published)
        out[f"{key}_published"] = run.published
        out[f"{key}_published_fps"] = round(run.published / clip.duration_s, 3)
        out[f"{key}_jpeg_kb_per_frame"] = round(run.jpeg_bytes / published / 1000, 2)
        out[f"{key}_event_kb_per_frame"] = round(run.event_bytes / published / 1000, 2)
        out[f"{key}_kb_per_camera_s"] = round(run.event_bytes / clip.duration_s / 1000, 1)
        # CPU beyond decoding, per published frame (thumbnail + gate + JPEG + protobuf), from
        # the medians; for the 5 fps modes it also carries the gated frames' thumbnails.
        out[f"{key}_extra_ms_per_published"] = round(
            (cpu(mode) - cpu("decode")) * 1000 / published, 3)
        out[f"{key}_minor_faults_per_published"] = round(
            median([r.minor_faults for r in clip.runs[mode]]) / published, 1)
    out["decode_ms_per_frame"] = round(1000 / fps("decode"), 3)
    sampled_grid = expected_samples(clip)
    out["sampled_on_grid"] = sampled_grid
    out["gated_share_of_sampled"] = round(1 - out["ingest_published"] / sampled_grid, 3) \
        if sampled_grid else None
    out["runs"] = {m: [r.row() for r in runs] for m, runs in clip.runs.items()}
    return out


def expected_samples(clip: Clip) -> int:
    """Frames the 5 fps grid lets through to the motion gate (replays FrameGate.due only)."""
    source = open_single_threaded(clip)
    gate = FrameGate(Settings().sample_fps, 0.0, 1.0)
    n = 0
    try:
        for decoded in source.frames():
            n += gate.due(decoded.pts_s)
    finally:
        source.close()
    return n


Line = tuple[str, Callable[[dict[str, Any]], str]]


def table_lines(rows: list[dict[str, Any]]) -> list[Line]:
    lines: list[Line] = [
        ("resolution", lambda r: f"{r['width']}x{r['height']}"),
        ("codec", lambda r: r["codec"]),
        ("source fps / duration", lambda r: f"{r['source_fps']:g} / {r['duration_s']:.1f} s"),
        ("ffmpeg -threads 1 frames/s", lambda r: f"{r['ffmpeg_fps']:.0f}"),
        ("  whole process (getrusage)", lambda r: f"{r['ffmpeg_fps_process']:.0f}"),
        ("Vigie decode frames/s", lambda r: f"{r['decode_fps']:.0f}"),
        ("  ratio to ffmpeg", lambda r: f"{r['decode_ratio']:.2f}"),
        ("Vigie ingest source frames/s", lambda r: f"{r['ingest_fps']:.0f}"),
        ("  ratio to ffmpeg", lambda r: f"{r['ingest_ratio']:.2f}"),
        ("cameras per core (real time)", lambda r: f"{r['ingest_cameras_per_core']:.1f}"),
        ("  CPU s per video s", lambda r: f"{r['ingest_cpu_s_per_video_s']:.3f}"),
        ("  decode only | ffmpeg", lambda r: f"{r['decode_cameras_per_core']:.1f} | "
                                             f"{r['ffmpeg_cameras_per_core']:.1f}"),
        ("published frames/s of video", lambda r: f"{r['ingest_published_fps']:.2f}"),
        ("  gated (of sampled)", lambda r: f"{r['gated_share_of_sampled']:.0%}"),
        ("JPEG KB per frame", lambda r: f"{r['ingest_jpeg_kb_per_frame']:.1f}"),
        ("event KB per frame", lambda r: f"{r['ingest_event_kb_per_frame']:.1f}"),
        ("KB per camera-second", lambda r: f"{r['ingest_kb_per_camera_s']:.0f}"),
        ("ms CPU per published frame", lambda r: f"{r['ingest_extra_ms_per_published']:.2f}"),
        ("every-frame source frames/s", lambda r: f"{r['every_frame_fps']:.0f}"),
        ("  ratio to ffmpeg", lambda r: f"{r['every_frame_ratio']:.2f}"),
        ("  cameras per core", lambda r: f"{r['every_frame_cameras_per_core']:.1f}"),
        ("  ms/frame: decode | +thumb,JPEG,pb",
         lambda r: f"{r['decode_ms_per_frame']:.2f} | "
                   f"{r['every_frame_extra_ms_per_published']:.2f}"),
        ("  page faults per frame", lambda r: f"{r['every_frame_minor_faults_per_frame']:.0f}"),
        ("  KB per camera-second", lambda r: f"{r['every_frame_kb_per_camera_s']:.0f}"),
    ]
    if "ingest_frombuffer_fps" in rows[0]:
        lines += [
            ("[frombuffer] ingest cameras/core",
             lambda r: f"{r['ingest_frombuffer_cameras_per_core']:.1f}"),
            ("[frombuffer] every-frame +ms/frame",
             lambda r: f"{r['every_frame_frombuffer_extra_ms_per_published']:.2f}"),
            ("[frombuffer] page faults per frame",
             lambda r: f"{r['every_frame_frombuffer_minor_faults_per_frame']:.0f}"),
        ]
    lines.append(("wall f/s: ffmpeg | decode | ingest",
                  lambda r: f"{r['ffmpeg_fps_wall']:.0f} | {r['decode_fps_wall']:.0f} | "
                            f"{r['ingest_fps_wall']:.0f}"))
    return lines


def print_table(rows: list[dict[str, Any]]) -> None:
    lines = table_lines(rows)
    names = [Path(r["clip"]).stem for r in rows]
    label_w = max(len(label) for label, _ in lines)
    col_w = [max(len(n), *(len(fn(r)) for _, fn in lines))
             for n, r in zip(names, rows, strict=True)]
    print()
    print(" " * label_w + " | " + " | ".join(n.rjust(w) for n, w in zip(names, col_w,
                                                                         strict=True)))
    print("-" * label_w + "-+-" + "-+-".join("-" * w for w in col_w))
    for label, fn in lines:
        cells = [fn(r).rjust(w) for r, w in zip(rows, col_w, strict=True)]
        print(label.ljust(label_w) + " | " + " | ".join(cells))
    print()


# --------------------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one timed round (smoke run)")
    p.add_argument("--clips", type=Path, default=DEFAULT_CLIPS,
                   help=f"folder of .mp4 clips (default {DEFAULT_CLIPS})")
    p.add_argument("--repeat", type=int, help="timed rounds; the table shows the median "
                   "(default 3, --quick 1)")
    p.add_argument("--ffmpeg", default=shutil.which("ffmpeg") or "ffmpeg")
    p.add_argument("--profile", action="store_true",
                   help="also run the ingest path once per clip under cProfile (not timed)")
    p.add_argument("--profile-mode", choices=["ingest", "every-frame"], default="every-frame")
    p.add_argument("--try-frombuffer", action="store_true",
                   help="add ingest and every-frame runs with analysis_jpeg patched (in this "
                        "process only) to build the PIL image with Image.frombuffer instead of "
                        "VideoFrame.to_image(): the suggested fix, measured end to end")
    p.add_argument("--out", type=Path, help="JSON output (default bench/results/ingest-<date>)")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    rounds = args.repeat or (1 if args.quick else 3)
    clips_dir: Path = args.clips
    paths = sorted(clips_dir.glob("*.mp4")) if clips_dir.is_dir() else []
    if not paths:
        print(f"SKIP: no .mp4 clips in {clips_dir} (pass --clips DIR; the shared test media "
              "folder is not part of the repository)")
        return 0
    if shutil.which(args.ffmpeg) is None:
        print(f"SKIP: ffmpeg not found ({args.ffmpeg}); it is the reference")
        return 0
    ffmpeg_version = subprocess.run([args.ffmpeg, "-version"], capture_output=True, text=True,
                                    check=False).stdout.splitlines()[0]
    settings = Settings()
    clips = [probe(p) for p in paths]
    print(f"{len(clips)} clips from {clips_dir}; {rounds} round(s); {ffmpeg_version}; "
          f"PyAV {av.__version__} (FFmpeg {av.library_versions['libavcodec']}); "
          f"loadavg {os.getloadavg()[0]:.2f}")
    wall0 = time.perf_counter()

    # Warm-up: every mode once on every clip (page cache, codec/library init, numpy/PIL imports).
    for clip in clips:
        run_ffmpeg(args.ffmpeg, clip)
        run_ingest(clip, "ingest", settings)
    run_decode(clips[0])
    run_ingest(clips[0], "every-frame", settings)

    modes: dict[str, Callable[[Clip], Run]] = {
        "ffmpeg": lambda c: run_ffmpeg(args.ffmpeg, c),
        "decode": run_decode,
        "ingest": lambda c: run_ingest(c, "ingest", settings),
        "every-frame": lambda c: run_ingest(c, "every-frame", settings),
    }
    if args.try_frombuffer:
        for variant in VARIANT_MODES:
            modes[variant] = functools.partial(run_ingest, mode=variant, settings=settings)
    for rnd in range(rounds):
        for clip in clips:
            for mode, fn in modes.items():  # interleaved, so machine load hits all modes alike
                clip.runs.setdefault(mode, []).append(fn(clip))
        print(f"  round {rnd + 1}/{rounds} done ({time.perf_counter() - wall0:.0f} s)")
    rows = [summarise(c) for c in clips]
    for row in rows:
        if row["ffmpeg_frames"] != row["frames"]:
            print(f"WARNING: {row['clip']}: ffmpeg decoded {row['ffmpeg_frames']} frames, "
                  f"Vigie {row['frames']}")
        if row["decoder_threads"]:
            print(f"WARNING: {row['clip']}: {row['decoder_threads']} FFmpeg threads seen; the "
                  "decoder was not single-threaded")
    print_table(rows)

    profiles: dict[str, str] = {}
    if args.profile:
        for clip in clips:
            text = profile_ingest(clip, settings, args.profile_mode, 18)
            profiles[clip.path.name] = text
            print(f"--- cProfile, {args.profile_mode} path, {clip.path.name} (tottime)")
            print("\n".join(text.splitlines()[:40]))

    stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H%M%S")
    out = args.out or RESULTS / f"ingest-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "ingest",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick, "rounds": rounds, "clips_dir": str(clips_dir),
        "modes": list(modes),
        "settings": {"sample_fps": settings.sample_fps, "min_motion": settings.min_motion,
                     "keepalive_s": settings.keepalive_s, "jpeg_quality": settings.jpeg_quality,
                     "analysis_max": [settings.analysis_max_width,
                                      settings.analysis_max_height],
                     "every_frame_mode": f"FrameGate({EVERY_FRAME_FPS:g} fps, min_motion 0)"},
        "timing": {
            "fps": "decoded source frames / CPU seconds (median of rounds); *_wall uses "
                   "perf_counter wall time",
            "ffmpeg": "ffmpeg -hide_banner -nostats -threads 1 -i CLIP -map 0:v:0 -benchmark "
                      "-f null -; cpu_s = utime+stime of its -benchmark line (transcode loop "
                      "only); process_cpu_s = user+sys from getrusage(RUSAGE_CHILDREN) deltas "
                      "(adds exec, library loading, probing); ratio_process uses the latter",
            "vigie": "time.process_time around VideoSource open .. close, decoder forced to "
                     "thread_count=1 after open (VideoSource sets thread_type AUTO)",
            "cameras_per_core": "video seconds / CPU seconds",
            "kb": "1 KB = 1000 bytes; event = FrameSampled.SerializeToString() (Kafka value; "
                  "key and CloudEvents headers not counted)",
        },
        "environment": {
            "python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(), "ffmpeg": ffmpeg_version,
            "pyav": av.__version__, "pyav_ffmpeg": av.library_versions,
            "pillow": PIL.__version__, "numpy": numpy.__version__,
        },
        "wall_seconds": round(time.perf_counter() - wall0, 1),
        "clips": rows,
        "profiles": profiles,
    }
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out} "
          f"({result['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

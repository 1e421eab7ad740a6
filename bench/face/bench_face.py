"""Face service benchmarks: 1:N watchlist search against faiss, and faces/s per core.

    ~/.cache/vigie/venv/bin/python bench/face/bench_face.py [--quick] [--threads N]

1. Search: N synthetic unit-length 128-d templates (N = 10k, 100k, 1M; random normal, seeded),
   the same float32 matrix given to Vigie's WatchlistIndex and to faiss-cpu IndexFlatIP (exact
   inner product, the reference). Probes: --queries of them, half near a template (noise 0.3),
   half random. Per probe, one call, timed with perf_counter:
     faiss        index.search(probe, k=1)
     vigie        WatchlistIndex.search(probe, camera, at, now, threshold): what the service does
                  per frame (eligibility mask by expiry and camera, dot products, best, threshold)
     vigie-bare   WatchlistIndex.search_all(probe): dot products and argmax only
   Both libraries run with the same thread count (--threads, default 1: BLAS and OpenMP), in
   interleaved rounds. The answers are checked to agree (same best row, or the same score).
2. Detect + embed: the package photos (make face-testdata) fitted in 960x540 frames, and LFW's
   150x150 photos when ../shared/data is there; OpenCV with 1 thread; CPU time per frame and
   faces/s per core for YuNet + SFace and YuNet + dlib through the service's FaceEngine, against
   the bare OpenCV calls (cv2.FaceDetectorYN.detect + FaceRecognizerSF.alignCrop/feature).
Prints the tables and writes bench/results/face-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import sys

_args = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
_args.add_argument("--threads", type=int, default=1)
_args.add_argument("--queries", type=int, default=200)
_args.add_argument("--rounds", type=int, default=3)
_args.add_argument("--sizes", default="10000,100000,1000000")
_args.add_argument("--quick", action="store_true", help="10k and 100k, 60 queries, 1 round")
_args.add_argument("--skip-embed", action="store_true")
_args.add_argument("--out", default=None)
ARGS = _args.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import faiss  # noqa: E402
import numpy as np  # noqa: E402
from vigie_face.adapters.engine import EngineOptions, FaceEngine  # noqa: E402
from vigie_face.adapters.factory import resolve  # noqa: E402
from vigie_face.domain.watchlist import Template, WatchlistIndex  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
PHOTOS = Path(os.environ.get("VIGIE_FACE_TESTDATA", Path.home() / ".cache/vigie/testdata/faces"))
LFW = REPO.parent / "shared/data/faces/lfw/images"
NOW = datetime(2026, 2, 14, 14, 0, tzinfo=UTC)
DIM = 128


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def bench_search(n: int, queries: int, rounds: int) -> dict[str, object]:
    rng = np.random.default_rng(n)
    data = rng.normal(size=(n, DIM)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    t0 = time.perf_counter()
    index = WatchlistIndex(DIM, capacity=n)
    expires = NOW + timedelta(days=30)
    index.extend(Template(f"s{i}", data[i], expires) for i in range(n))
    build_vigie = time.perf_counter() - t0
    t0 = time.perf_counter()
    flat = faiss.IndexFlatIP(DIM)
    flat.add(data)
    build_faiss = time.perf_counter() - t0
    near = data[rng.integers(0, n, queries // 2)] + 0.3 * rng.normal(size=(queries // 2, DIM))
    probes = np.concatenate([near, rng.normal(size=(queries - queries // 2, DIM))])
    probes = (probes / np.linalg.norm(probes, axis=1, keepdims=True)).astype(np.float32)
    times: dict[str, list[float]] = {"faiss": [], "vigie": [], "vigie-bare": []}
    disagreements = 0
    for r in range(rounds):
        order = ["faiss", "vigie", "vigie-bare"]
        order = order[r % 3:] + order[:r % 3]
        for mode in order:
            for p in probes:
                q = p[None]
                a = time.perf_counter()
                if mode == "faiss":
                    scores, rows = flat.search(q, 1)
                elif mode == "vigie":
                    found = index.search(q, "cam-1", NOW, NOW, -1.0)
                else:
                    index.search_all(p)
                times[mode].append(time.perf_counter() - a)
        if r == 0:
            for p in probes:
                scores, rows = flat.search(p[None], 1)
                _, score = index.search_all(p)
                found = index.search(p[None], "cam-1", NOW, NOW, -1.0)
                vigie_row = int(found[0].subject_id[1:])
                if not (vigie_row == int(rows[0, 0]) or abs(found[0].score - float(scores[0, 0]))
                        < 1e-5) or abs(score - float(scores[0, 0])) > 1e-5:
                    disagreements += 1
    row: dict[str, object] = {"n": n, "queries": queries, "rounds": rounds,
                              "build_s": {"vigie": round(build_vigie, 2),
                                          "faiss": round(build_faiss, 2)},
                              "disagreements": disagreements}
    for mode, values in times.items():
        row[mode] = {"p50_ms": round(pct(values, 50) * 1e3, 4),
                     "p99_ms": round(pct(values, 99) * 1e3, 4)}
    del index, flat, data
    return row


def frames() -> list[tuple[str, np.ndarray]]:
    out = []
    for path in sorted(PHOTOS.rglob("*")):
        if path.suffix.lower() not in {".jpg", ".png"}:
            continue
        image = cv2.imread(str(path))
        if image is None:
            continue
        scale = min(960 / image.shape[1], 540 / image.shape[0], 1.0)
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
        canvas = np.full((540, 960, 3), 110, np.uint8)
        y, x = (540 - image.shape[0]) // 2, (960 - image.shape[1]) // 2
        canvas[y:y + image.shape[0], x:x + image.shape[1]] = image
        out.append((path.name, canvas))
    return out


def lfw_images(limit: int) -> list[tuple[str, np.ndarray]]:
    if not LFW.is_dir():
        return []
    paths = sorted(LFW.glob("*/*.jpg"))[::max(1, 13000 // limit)][:limit]
    return [(p.name, cv2.imread(str(p))) for p in paths]


def bench_embed(images: list[tuple[str, np.ndarray]], repeat: int) -> dict[str, object]:
    cv2.setNumThreads(1)
    detector, sface = resolve(Path.home() / ".cache/vigie/models", "sface")
    _, dlib = resolve(Path.home() / ".cache/vigie/models", "dlib")
    engines = {"sface": FaceEngine(detector, sface, EngineOptions()),
               "dlib": FaceEngine(detector, dlib, EngineOptions())}
    yunet = cv2.FaceDetectorYN.create(str(detector.paths["weights"]), "", (320, 320), 0.8, 0.3,
                                      5000)
    sf = cv2.FaceRecognizerSF.create(str(sface.paths["weights"]), "")

    def bare(image: np.ndarray) -> int:
        yunet.setInputSize((image.shape[1], image.shape[0]))
        _, rows = yunet.detect(image)
        for r in [] if rows is None else rows:
            if min(r[2], r[3]) >= 40:
                sf.feature(sf.alignCrop(image, r))
        return sum(1 for r in ([] if rows is None else rows) if min(r[2], r[3]) >= 40)

    def service(engine: FaceEngine, image: np.ndarray) -> int:
        faces = [f for f in engine.detect(image) if f.size_px >= 40]
        engine.embed(image, faces)
        return len(faces)

    modes = {"bare-opencv-sface": bare,
             "engine-sface": lambda im: service(engines["sface"], im),
             "engine-dlib": lambda im: service(engines["dlib"], im)}
    out: dict[str, object] = {}
    for mode, fn in modes.items():
        for _, image in images[:2]:
            fn(image)  # warm-up
        faces = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(repeat):
            for _, image in images:
                faces += fn(image)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        n = repeat * len(images)
        out[mode] = {"frames": n, "faces": faces, "cpu_s": round(cpu, 3),
                     "cpu_ms_per_frame": round(cpu / n * 1e3, 2),
                     "faces_per_cpu_s": round(faces / cpu, 2),
                     "frames_per_cpu_s": round(n / cpu, 2), "wall_s": round(wall, 3)}
    return out


def main() -> int:
    sizes = [10_000, 100_000] if ARGS.quick else [int(s) for s in ARGS.sizes.split(",")]
    queries = 60 if ARGS.quick else ARGS.queries
    rounds = 1 if ARGS.quick else ARGS.rounds
    faiss.omp_set_num_threads(ARGS.threads)
    search = []
    print(f"1:N search, {DIM}-d float32, {ARGS.threads} thread(s), {queries} probes x {rounds} "
          "rounds; ratio = vigie / faiss (lower is faster)")
    print(f"{'templates':>10} {'faiss p50':>10} {'faiss p99':>10} {'vigie p50':>10} "
          f"{'vigie p99':>10} {'ratio p50':>9} {'ratio p99':>9} {'bare p50':>9} {'bare/faiss':>10}"
          " agree")
    for n in sizes:
        row = bench_search(n, queries, rounds)
        search.append(row)
        f, v, b = row["faiss"], row["vigie"], row["vigie-bare"]
        assert isinstance(f, dict) and isinstance(v, dict) and isinstance(b, dict)
        print(f"{n:>10,} {f['p50_ms']:>9.3f}ms {f['p99_ms']:>9.3f}ms {v['p50_ms']:>9.3f}ms "
              f"{v['p99_ms']:>9.3f}ms {v['p50_ms'] / f['p50_ms']:>9.2f} "
              f"{v['p99_ms'] / f['p99_ms']:>9.2f} {b['p50_ms']:>8.3f}ms "
              f"{b['p50_ms'] / f['p50_ms']:>10.2f} {'yes' if not row['disagreements'] else 'NO'}")
    embed: dict[str, object] = {}
    if not ARGS.skip_embed:
        sets = {"package photos in 960x540 frames": frames(), "LFW 150x150": lfw_images(300)}
        for label, images in sets.items():
            if not images:
                print(f"SKIP detect+embed on {label}: not found")
                continue
            result = bench_embed(images, 1 if ARGS.quick else 2)
            embed[label] = result
            print(f"\ndetect + embed, 1 OpenCV thread, {label} ({len(images)} images); "
                  "ratio = CPU per frame / bare OpenCV")
            print(f"{'mode':>18} {'ms/frame':>9} {'faces/s/core':>12} {'frames/s/core':>13} "
                  f"{'ratio':>6}")
            base = result["bare-opencv-sface"]
            assert isinstance(base, dict)
            for mode, r in result.items():
                assert isinstance(r, dict)
                print(f"{mode:>18} {r['cpu_ms_per_frame']:>9.2f} {r['faces_per_cpu_s']:>12.2f} "
                      f"{r['frames_per_cpu_s']:>13.2f} "
                      f"{r['cpu_ms_per_frame'] / base['cpu_ms_per_frame']:>6.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(ARGS.out) if ARGS.out else RESULTS / f"face-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({
        "benchmark": "face", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(ARGS), "search": search, "detect_embed": embed,
        "env": {"python": sys.version.split()[0], "platform": platform.platform(),
                "cpus": os.cpu_count(), "opencv": cv2.__version__, "numpy": np.__version__,
                "faiss": faiss.__version__, "loadavg": os.getloadavg()}}, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Accuracy next to speed, for the same detect settings: a speed gain that costs accuracy shows.

    ~/.cache/vigie/venv/bin/python bench/accuracy/bench_accuracy.py [--quick] [--rounds N]
        [--config NAME:KEY=VALUE,KEY=VALUE ...] [SEQ ...]

Each configuration is a set of detect settings (`vigie_detect.config.Settings`, as
`VIGIE_DETECT_*` would set them) run through `vigie eval tracking`'s code path: the MOTChallenge
sequences (default: TUD-Stadtmitte and TUD-Campus from ../shared/data/mot15) read by ingest at
their own frame rate and detected and tracked by the detect service in the embedded runtime.
From the same runs come

  accuracy  MOTA, IDF1, precision, recall, ID switches over all the sequences (py-motmetrics,
            IoU >= 0.5; motmetrics' combined accumulator)
  speed     detect's model time per frame (ObjectsDetected.inference_time) and the pipeline's
            frames/s (camera registered -> last detection, decode and bus included)

Configurations (always both, then any --config):

  reference  the previous production defaults: YOLOv3-tiny, 416x416 square input, ByteTrack
             with score fusion, one NMS per class
  default    the current production defaults (Settings())

Rounds run every configuration once, in an order rotated from round to round so that load from
elsewhere hits them alike; accuracy is the same every round (the pipeline is deterministic up to
thread scheduling), speed is the median over the rounds, and the ratios are taken within each
round against the reference. Prints one table and writes bench/results/accuracy-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
MOT15 = REPO.parent / "shared" / "data" / "mot15"
# The production defaults before 2026-12-01 (docs/models/yolov3-tiny.md).
REFERENCE = {"input_size": 416, "keep_aspect": False, "fuse_score": True,
             "nms_shared_classes": []}

from vigie_detect.config import Settings  # noqa: E402
from vigie_eval.report import table  # noqa: E402
from vigie_eval.tracking import evaluate_sequence, summary  # noqa: E402


def parse_config(text: str) -> tuple[str, dict[str, str]]:
    name, _, pairs = text.partition(":")
    settings = dict(p.split("=", 1) for p in pairs.split(",") if p)
    return name, settings


async def run(sequences: list[Path], overrides: dict[str, Any]) -> dict[str, Any]:
    settings = Settings(**{**Settings().model_dump(), **overrides})
    results = [await evaluate_sequence(seq, settings) for seq in sequences]
    table_ = summary(results)
    overall = table_.get("OVERALL", next(iter(table_.values())))
    frames = sum(len(r.run.frames) for r in results)
    wall = sum(r.run.wall_s for r in results)
    return {"per_sequence": table_, "overall": overall, "model_id": results[0].run.model_id,
            "inference_ms": 1000 * sum(r.run.inference_s for r in results) / max(1, frames),
            "fps": frames / wall if wall else 0.0, "settings": settings.model_dump()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sequences", nargs="*", type=Path, metavar="SEQ")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 2, --quick 1)")
    parser.add_argument("--quick", action="store_true", help="1 round, TUD-Campus only")
    parser.add_argument("--config", action="append", default=[], metavar="NAME:K=V,K=V",
                        help="another configuration of detect settings")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sequences = args.sequences or ([MOT15 / "TUD-Campus"] if args.quick else
                                   [MOT15 / "TUD-Stadtmitte", MOT15 / "TUD-Campus"])
    missing = [s for s in sequences if not (s / "seqinfo.ini").is_file()]
    if missing:
        print(f"sequences not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    configs: dict[str, dict[str, Any]] = {"reference": dict(REFERENCE), "default": {}}
    configs.update(parse_config(c) for c in args.config)
    rounds = args.rounds or (1 if args.quick else 2)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    names = list(configs)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            print(f"round {r + 1}/{rounds}: {name}", file=sys.stderr)
            runs[name].append(asyncio.run(run(sequences, configs[name])))
    ref = runs["reference"]
    rows = []
    for name in names:
        last = runs[name][-1]["overall"]
        speed = [x["fps"] / y["fps"] for x, y in zip(runs[name], ref, strict=True)]
        cost = [x["inference_ms"] / y["inference_ms"] for x, y in zip(runs[name], ref,
                                                                      strict=True)]
        rows.append([name, f"{100 * last['mota']:.1f}",
                     f"{100 * (last['mota'] - ref[-1]['overall']['mota']):+.1f}",
                     f"{100 * last['idf1']:.1f}",
                     f"{100 * (last['idf1'] - ref[-1]['overall']['idf1']):+.1f}",
                     f"{100 * last['precision']:.1f}", f"{100 * last['recall']:.1f}",
                     f"{last['num_switches']:.0f}",
                     f"{statistics.median(r['inference_ms'] for r in runs[name]):.0f}",
                     f"{statistics.median(cost):.2f}",
                     f"{statistics.median(r['fps'] for r in runs[name]):.1f}",
                     f"{statistics.median(speed):.2f}",
                     ", ".join(f"{k}={v}" for k, v in configs[name].items()) or "Settings()"])
    header = ["config", "MOTA %", "vs ref", "IDF1 %", "vs ref", "prec %", "recall %", "IDsw",
              "model ms/frame", "x ref", "frames/s", "x ref", "settings"]
    seqs = ", ".join(s.name for s in sequences)
    print(f"accuracy and speed on {seqs} ({rounds} round(s), {os.cpu_count()} cores, "
          f"{runs['default'][-1]['model_id']})")
    print(table(header, rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"accuracy-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                               "cores": os.cpu_count(), "sequences": seqs, "configs": configs,
                               "runs": runs}, indent=2, default=str) + "\n")
    print(f"written {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Accuracy next to speed, for the same detect settings: a speed gain that costs accuracy shows.

    ~/.cache/vigie/venv/bin/python bench/accuracy/bench_accuracy.py [--quick] [--rounds N]
        [--config NAME:KEY=VALUE,KEY=VALUE ...] [--no-scenarios] [SEQ ...]

Each configuration is a set of detect settings (`vigie_detect.config.Settings`, as
`VIGIE_DETECT_*` would set them) run through the `vigie eval` code paths (ingest -> detect in the
embedded runtime, then the pure rules engine for scenarios):

  tracking   the MOTChallenge sequences (default: TUD-Stadtmitte and TUD-Campus from
             ../shared/data/mot15) at their own frame rate: MOTA, IDF1, ID switches per sequence
             (py-motmetrics, IoU >= 0.5)
  scenarios  the rule scenarios of tools/eval/scenarios on ../shared/data/clips (the tampered
             `made_with` copies left out: they test the scene stage, not tracking): the count
             error per line and direction, alerts per true event (alerts in the expected
             windows / windows with an alert), misses and false alerts
  speed      detect's model time per frame (ObjectsDetected.inference_time) and the pipeline's
             frames/s (camera registered -> last detection, decode and bus included)

Configurations (always both, then any --config):

  previous   the production detect settings before issue 18 (2026-12-07): ByteTrack as
             Ultralytics ships it, no re-linking, the scene stage on every frame
  default    the current production defaults (Settings())

Rounds run every configuration once, in an order rotated from round to round so that load from
elsewhere hits them alike; accuracy is the same every round (the pipeline is deterministic up to
thread scheduling), speed is the median over the rounds, and the speed ratios are taken within
each round against `previous`. Prints the tables and writes bench/results/accuracy-<date>.json.
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
DATA = REPO.parent / "shared" / "data"
SCENARIOS = REPO / "tools" / "eval" / "scenarios"
# The production detect settings before issue 18 (docs/models/yolov3-tiny.md) that differ from
# today's. (The rules engine's own changes of that issue, re-linking of track fragments and the
# zone-intrusion presence time, are in both: they are not detect settings.)
PREVIOUS: dict[str, Any] = {"tracker": "bytetrack", "relink_s": 0.0, "scene_fps": 0.0,
                            "rider_min_share": 0.0}

from vigie_detect.config import Settings  # noqa: E402
from vigie_eval.report import table  # noqa: E402
from vigie_eval.scenarios import load_scenario, run_scenario  # noqa: E402
from vigie_eval.tracking import evaluate_sequence, summary  # noqa: E402


def parse_config(text: str) -> tuple[str, dict[str, str]]:
    name, _, pairs = text.partition(":")
    settings = dict(p.split("=", 1) for p in pairs.split(",") if p)
    return name, settings


def outcome_row(outcome: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(outcome).items() if isinstance(v, (int, float, str, bool))}


async def run(sequences: list[Path], scenarios: list[Path], overrides: dict[str, Any],
              ) -> dict[str, Any]:
    settings = Settings(**{**Settings().model_dump(), **overrides})
    results = [await evaluate_sequence(seq, settings) for seq in sequences]
    reports = [await run_scenario(load_scenario(path, clips_dir=DATA / "clips"), settings)
               for path in scenarios]
    runs = [r.run for r in results] + [r.run for r in reports]
    frames = sum(len(r.frames) for r in runs)
    wall = sum(r.wall_s for r in runs)
    return {"tracking": summary(results) if results else {},
            "scenarios": {r.scenario.name: [outcome_row(o) for o in r.outcomes]
                          for r in reports},
            "model_id": runs[0].model_id if runs else "?",
            "inference_ms": 1000 * sum(r.inference_s for r in runs) / max(1, frames),
            "fps": frames / wall if wall else 0.0, "settings": settings.model_dump()}


def tracking_rows(names: list[str], runs: dict[str, list[dict[str, Any]]]) -> list[list[str]]:
    rows = []
    for name in names:
        for seq, m in runs[name][-1]["tracking"].items():
            rows.append([seq, name, f"{100 * m['mota']:.1f}", f"{100 * m['idf1']:.1f}",
                         f"{m['num_switches']:.0f}", f"{m['num_false_positives']:.0f}",
                         f"{m['num_misses']:.0f}"])
    return sorted(rows, key=lambda r: (r[0] == "OVERALL", r[0]))


def scenario_rows(names: list[str], runs: dict[str, list[dict[str, Any]]]) -> list[list[str]]:
    rows = []
    for name in names:
        for scenario, outcomes in runs[name][-1]["scenarios"].items():
            for o in outcomes:
                if o["kind"] == "count":
                    detail = f"{o['measured'] - o['expected']:+d}"
                elif o["kind"] == "alerts":
                    per_event = o.get("alerts_per_event")
                    detail = (f"{o['misses']} missed, {o['false_alerts']} false"
                              + (f", {per_event:.2f}/event" if per_event else ""))
                else:
                    detail = f"{o['measured'] - o['expected']:+d}"
                rows.append([scenario, o["rule"], o["what"], name, str(o["expected"]),
                             str(o["measured"]), detail, "pass" if o["passed"] else "FAIL"])
    return sorted(rows, key=lambda r: (r[0], r[1], r[2]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sequences", nargs="*", type=Path, metavar="SEQ")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 1)")
    parser.add_argument("--quick", action="store_true", help="TUD-Campus only, no scenarios")
    parser.add_argument("--no-scenarios", action="store_true", help="tracking only")
    parser.add_argument("--config", action="append", default=[], metavar="NAME:K=V,K=V",
                        help="another configuration of detect settings")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    mot15 = DATA / "mot15"
    sequences = args.sequences or ([mot15 / "TUD-Campus"] if args.quick else
                                   [mot15 / "TUD-Stadtmitte", mot15 / "TUD-Campus"])
    missing = [s for s in sequences if not (s / "seqinfo.ini").is_file()]
    if missing:
        print(f"sequences not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    scenarios = [] if args.quick or args.no_scenarios else [
        p for p in sorted(SCENARIOS.glob("*.yaml")) if "made_with" not in p.read_text()]
    configs: dict[str, dict[str, Any]] = {"previous": dict(PREVIOUS), "default": {}}
    configs.update(parse_config(c) for c in args.config)
    rounds = args.rounds or 1
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    names = list(configs)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            print(f"round {r + 1}/{rounds}: {name}", file=sys.stderr)
            runs[name].append(asyncio.run(run(sequences, scenarios, configs[name])))
    ref = runs["previous"]
    speed_rows = []
    for name in names:
        speed = [x["fps"] / y["fps"] for x, y in zip(runs[name], ref, strict=True)]
        cost = [x["inference_ms"] / y["inference_ms"]
                for x, y in zip(runs[name], ref, strict=True)]
        speed_rows.append([name, f"{statistics.median(r['inference_ms'] for r in runs[name]):.0f}",
                           f"{statistics.median(cost):.2f}",
                           f"{statistics.median(r['fps'] for r in runs[name]):.1f}",
                           f"{statistics.median(speed):.2f}",
                           ", ".join(f"{k}={v}" for k, v in configs[name].items())
                           or "Settings()"])
    when = datetime.now(UTC)
    print(f"accuracy and speed, {when:%Y-%m-%d} ({rounds} round(s), {os.cpu_count()} cores, "
          f"{runs['default'][-1]['model_id']})\n")
    print(table(["sequence", "config", "MOTA %", "IDF1 %", "IDsw", "FP", "FN"],
                tracking_rows(names, runs)))
    if scenarios:
        print()
        print(table(["scenario", "rule", "what", "config", "expected", "measured", "error",
                     "result"], scenario_rows(names, runs)))
    print()
    print(table(["config", "model ms/frame", "x previous", "frames/s", "x previous",
                 "settings"], speed_rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"accuracy-{when:%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"date": when.isoformat(),
                               "machine": platform.processor() or platform.machine(),
                               "cores": os.cpu_count(), "sequences": [s.name for s in sequences],
                               "scenarios": [p.name for p in scenarios], "configs": configs,
                               "runs": runs}, indent=2, default=str) + "\n")
    print(f"written {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`vigie eval tracking SEQ...` and `vigie eval rules SCENARIO.yaml...`: accuracy, measured through
the services' own code (see tracking.py and scenarios.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from vigie_detect.config import Settings as DetectSettings

from vigie_eval.report import ProgressBar, table

TRACKING_COLUMNS = (
    ("frames", "frames_evaluated", "{:.0f}"), ("MOTA", "mota", "{:.1%}"),
    ("IDF1", "idf1", "{:.1%}"), ("prec", "precision", "{:.1%}"), ("recall", "recall", "{:.1%}"),
    ("IDsw", "num_switches", "{:.0f}"), ("FP", "num_false_positives", "{:.0f}"),
    ("FN", "num_misses", "{:.0f}"), ("GT", "num_objects", "{:.0f}"),
    ("MT", "mostly_tracked", "{:.0f}"), ("ML", "mostly_lost", "{:.0f}"),
    ("ms/frame", "inference_ms", "{:.0f}"), ("frames/s", "fps", "{:.1f}"),
)


def detect_settings(pairs: list[str]) -> DetectSettings:
    """Production's detect settings (environment and defaults) with KEY=VALUE overrides."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"vigie eval: --set wants KEY=VALUE, got {pair!r}")
        value = value.strip()
        if value.startswith("["):  # a list, as the environment variable takes it (JSON)
            try:
                overrides[key.strip().replace("-", "_")] = json.loads(value)
                continue
            except json.JSONDecodeError:
                pass
        overrides[key.strip().replace("-", "_")] = value
    unknown = set(overrides) - set(DetectSettings.model_fields)
    if unknown:
        raise SystemExit(f"vigie eval: unknown detect setting(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(DetectSettings.model_fields)}")
    try:
        return DetectSettings(**{**DetectSettings().model_dump(), **overrides})
    except ValidationError as exc:
        raise SystemExit(f"vigie eval: invalid detect settings: {exc}") from None


def tracking_table(summary: dict[str, dict[str, float]], markdown: bool) -> str:
    rows = [[name, *(fmt.format(row.get(key, float("nan"))).replace("%", "") if "%" in fmt
                     else fmt.format(row.get(key, float("nan"))) for _, key, fmt in
                     TRACKING_COLUMNS)]
            for name, row in summary.items()]
    header = ["sequence", *(title + (" %" if "%" in fmt else "")
                            for title, _, fmt in TRACKING_COLUMNS)]
    return table(header, rows, markdown)


def cmd_tracking(args: argparse.Namespace) -> int:
    from vigie_eval.mot import read_sequence
    from vigie_eval.tracking import evaluate_sequence, summary

    settings = detect_settings(args.set)
    results = []
    for folder in args.sequences:
        try:
            info = read_sequence(folder)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            print(f"vigie eval: {folder}: {exc}", file=sys.stderr)
            return 2
        total = info.length if not args.fps else round(info.length * args.fps / info.frame_rate)
        bar = ProgressBar(info.name, total, enabled=None if not args.no_progress else False)
        try:
            results.append(asyncio.run(evaluate_sequence(folder, settings, fps=args.fps,
                                                         progress=bar)))
        finally:
            bar.close()
    table_summary = summary(results)
    model = results[0].run.model_id if results else "?"
    defaults = {k: f.get_default(call_default_factory=True)
                for k, f in DetectSettings.model_fields.items()}
    changed = {k: v for k, v in settings.model_dump().items() if v != defaults[k]}
    title = f"model {model}; detect settings: " + (
        ", ".join(f"{k}={v}" for k, v in sorted(changed.items())) or "production defaults")
    print(("**" + title + "**\n") if args.markdown else title)
    print(tracking_table(table_summary, args.markdown))
    if args.json:
        args.json.write_text(json.dumps({"model_id": model, "settings": settings.model_dump(),
                                         "sequences": table_summary}, indent=2) + "\n")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from vigie_eval.scenarios import ScenarioError, load_scenario, run_scenario, scenario_table

    settings = detect_settings(args.set)
    failed = False
    reports = []
    for path in args.scenarios:
        try:
            scenario = load_scenario(path, clips_dir=args.clips)
        except ScenarioError as exc:
            print(f"vigie eval: {path}: {exc}", file=sys.stderr)
            return 2
        bar = ProgressBar(scenario.name, None, enabled=None if not args.no_progress else False)
        try:
            report = asyncio.run(run_scenario(scenario, settings, progress=bar))
        finally:
            bar.close()
        reports.append(report)
        print(scenario_table(report, args.markdown))
        print()
        failed = failed or not report.passed
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in reports], indent=2) + "\n")
    return 1 if failed else 0


def cmd_tune(args: argparse.Namespace) -> int:
    from vigie_eval.scenarios import ScenarioError
    from vigie_eval.tune import DEFAULT_GRID, run

    settings = detect_settings(args.set)
    grid = DEFAULT_GRID
    if args.grid:
        entries = json.loads(args.grid.read_text())
        grid = [("default", "service", {})] + [
            (e["name"], e.get("tracker", "service"), e.get("overrides", {})) for e in entries]
    try:
        result = run(args.items, settings, grid, clips=args.clips, markdown=args.markdown,
                     log=lambda msg: print(msg, file=sys.stderr))
    except (ScenarioError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"vigie eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    evaluation = subparsers.add_parser(
        "eval", help="accuracy: tracking on MOTChallenge sequences, rules on scenario files")
    actions = evaluation.add_subparsers(dest="action", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-s", "--set", action="append", default=[], metavar="KEY=VALUE",
                            help="a detect setting (VIGIE_DETECT_<KEY>), e.g. model=yolov3-tiny, "
                                 "input_size=608, track_buffer=60; repeatable")
        parser.add_argument("--markdown", action="store_true", help="Markdown tables")
        parser.add_argument("--json", type=Path, metavar="FILE", help="also write JSON here")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    tracking = actions.add_parser("tracking", help="MOTA, IDF1, precision, recall, ID switches "
                                                   "(py-motmetrics, IoU >= 0.5)")
    tracking.add_argument("sequences", nargs="+", type=Path, metavar="SEQ",
                          help="MOTChallenge sequence folder (seqinfo.ini, gt/gt.txt, a video)")
    tracking.add_argument("--fps", type=float, help="sampling rate (default: the sequence's, "
                                                    "every frame)")
    common(tracking)
    tracking.set_defaults(func=cmd_tracking)

    rules = actions.add_parser("rules", help="rule scenarios: counts per line and direction, "
                                             "zone entries, alerts in time windows")
    rules.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO.yaml")
    rules.add_argument("--clips", type=Path, help="folder of the clips the scenarios name "
                                                  "(default: next to the scenario, then "
                                                  "$VIGIE_TEST_DATA/clips)")
    common(rules)
    rules.set_defaults(func=cmd_rules)

    tune = actions.add_parser("tune", help="tracker settings by leave-one-out over MOT "
                                           "sequences and scenarios (detected once, cached)")
    tune.add_argument("items", nargs="+", type=Path, metavar="ITEM",
                      help="MOTChallenge sequence folder or scenario YAML file")
    tune.add_argument("--grid", type=Path, metavar="FILE.json", help="configurations to try: "
                      "[{name, overrides: {setting: value}, tracker: service (the detect "
                      "service's, as the settings say) | botsort-iou}] "
                      "(the production default is always tried first)")
    tune.add_argument("--clips", type=Path, help="folder of the scenarios' clips")
    common(tune)
    tune.set_defaults(func=cmd_tune)

"""`vigie face evaluate DATASET` and `vigie face models`: accuracy reports and pinned models.

`vigie face` is this command group; the face service itself runs with `vigie serve face`
(or `python -m vigie_face`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vigie_core.model_store import ModelError, default_models_dir


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vigie_face.adapters.engine import EngineOptions
    from vigie_face.adapters.factory import engine_factory
    from vigie_face.evaluate import Options, evaluate

    if not args.dataset.is_dir():
        print(f"vigie face evaluate: {args.dataset} is not a folder of identities",
              file=sys.stderr)
        return 2
    references = {}
    for spec in args.reference:
        attribute, _, value = spec.partition("=")
        references[attribute] = value
    try:
        factory = engine_factory(args.models_dir, args.embedder,
                                 EngineOptions(min_detection_score=args.min_detection_score))
        report = evaluate(Options(
            dataset=args.dataset, out=args.out, pairs=args.pairs, group_lists=args.group_list,
            group_jsons=args.group_json, reference=references, target_fmr=args.target_fmr,
            max_per_identity=args.max_per_identity, workers=args.workers,
            bootstrap=args.bootstrap, seed=args.seed, face=args.face,
            formats=tuple(args.format or ("md", "html")), pairs_only=args.pairs_only), factory)
    except (ModelError, ValueError, OSError) as exc:
        print(f"vigie face evaluate: {exc}", file=sys.stderr)
        return 1
    print(f"report: {args.out / 'report.md'} ({report.meta['elapsed_s']} s)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from vigie_face.adapters.factory import model_store

    store = model_store(args.models_dir)
    failed = 0
    for name, spec in store.catalogue.items():
        try:
            resolved = store.resolve(name)
        except ModelError as exc:
            failed += 1
            print(f"{name}: FAILED: {exc}")
            continue
        print(f"{name}: OK {resolved.model_id} ({resolved.source}) - {spec.description}")
        for role, path in resolved.paths.items():
            print(f"  {role:9} {resolved.sha256[role]}  {path}")
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    face = subparsers.add_parser("face", help="face models and accuracy reports (the service: "
                                              "vigie serve face)")
    actions = face.add_subparsers(dest="action", required=True)
    ev = actions.add_parser("evaluate", help="ISO/IEC 19795-style accuracy and bias report "
                                             "from a folder of identities")
    ev.add_argument("dataset", type=Path, help="folder of <identity>/<image> files")
    ev.add_argument("--out", type=Path, default=Path("face-evaluation"),
                    help="output folder: report.md, report.html, det.png, scores.png, "
                         "results.json (default ./face-evaluation)")
    ev.add_argument("--pairs", type=Path, help="pairs file in LFW format (e.g. View 2 "
                                               "pairs.txt): adds the 10-fold accuracy")
    ev.add_argument("--pairs-only", action="store_true",
                    help="embed only the images the pairs file names (quick checks)")
    ev.add_argument("--group-list", action="append", default=[], metavar="ATTR:VALUE=FILE",
                    help="identities (or image names <identity>_NNNN.jpg) of one group, one a "
                         "line; repeatable")
    ev.add_argument("--group-json", action="append", default=[], metavar="ATTR=FILE",
                    help="JSON object identity -> label (or comma-separated labels: "
                         "identities with several are left out); repeatable")
    ev.add_argument("--reference", action="append", default=[], metavar="ATTR=VALUE",
                    help="reference group of an attribute (default: its largest group)")
    ev.add_argument("--target-fmr", type=float, default=1e-3,
                    help="FMR fixed on the reference group (default 1e-3)")
    ev.add_argument("--embedder", choices=["sface", "dlib"], default="sface")
    ev.add_argument("--min-detection-score", type=float, default=0.8)
    ev.add_argument("--max-per-identity", type=int, default=10,
                    help="images per identity at most (0: all; default 10)")
    ev.add_argument("--workers", type=int, default=2, help="embedding threads")
    ev.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--face", choices=["centre", "largest"], default="centre",
                    help="which detected face of an image is used")
    ev.add_argument("--format", action="append", choices=["md", "html"], default=None,
                    help="report formats (default both)")
    ev.add_argument("--models-dir", type=Path, default=default_models_dir())
    ev.set_defaults(func=cmd_evaluate)
    models = actions.add_parser("models", help="the pinned face models: where, hashes")
    models.add_argument("--models-dir", type=Path, default=default_models_dir())
    models.set_defaults(func=cmd_models)

"""`vigie models list|fetch NAME|verify [NAME]`: the pinned model files, from a terminal.

Models dir: $VIGIE_MODELS_DIR, default ~/.cache/vigie/models. No network unless --allow-downloads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vigie_core.model_store import (
    ModelError,
    ModelSpec,
    ModelStore,
    ResolvedModel,
    default_models_dir,
)

from vigie_detect.adapters.backends import model_store


def _store(args: argparse.Namespace) -> ModelStore:
    return model_store(args.models_dir, allow_downloads=args.allow_downloads)


def _pin(spec: ModelSpec, role: str, actual: str | None) -> str:
    expected = spec.files[role].sha256
    if expected is None:
        return f"unpinned {actual[:12]}" if actual else "unpinned"
    return expected[:12]


def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = [("MODEL", "BACKEND", "WHERE", "FILES (sha256 pin)", "DESCRIPTION")]
    for status in store.list():
        spec = status.spec
        files = ", ".join(f"{f.filename} {_pin(spec, role, status.sha256.get(role))}"
                          for role, f in spec.files.items())
        rows.append((spec.name, spec.backend, status.where, files, spec.description))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)),
              row[4], sep="  ")
    print(f"models dir: {store.models_dir}")
    return 0


def _show(resolved: ResolvedModel) -> None:
    for role, path in resolved.paths.items():
        pinned = "verified" if resolved.spec.files[role].sha256 else "unpinned"
        print(f"  {role:8} {pinned:8} {resolved.sha256[role]}  {path} "
              f"({resolved.sources[role]})")


def cmd_fetch(args: argparse.Namespace) -> int:
    try:
        resolved = _store(args).fetch(args.name)
    except ModelError as exc:
        print(f"vigie models: {exc}", file=sys.stderr)
        return 1
    print(f"{resolved.spec.name}: in {resolved.paths[next(iter(resolved.paths))].parent}")
    _show(resolved)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        names = [args.name] if args.name else sorted(store.specs())
    except ModelError as exc:
        print(f"vigie models: {exc}", file=sys.stderr)
        return 1
    failed = 0
    for name in names:
        try:
            resolved = store.verify(name)
        except ModelError as exc:
            print(f"{name}: FAILED: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: OK ({resolved.source})")
        _show(resolved)
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    models = subparsers.add_parser("models", help="pinned model files: list, fetch, verify")
    models.add_argument("--models-dir", type=Path, default=default_models_dir(),
                        help="local model files (default: $VIGIE_MODELS_DIR or "
                             "~/.cache/vigie/models)")
    models.add_argument("--allow-downloads", action="store_true",
                        help="fetch missing files from their upstream URL (verified)")
    actions = models.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="known models and where their files are")
    listing.set_defaults(func=cmd_list)
    fetch = actions.add_parser("fetch", help="copy a model's files into the models dir")
    fetch.add_argument("name")
    fetch.set_defaults(func=cmd_fetch)
    verify = actions.add_parser("verify", help="check files against their SHA-256 pins")
    verify.add_argument("name", nargs="?", help="one model (default: all)")
    verify.set_defaults(func=cmd_verify)

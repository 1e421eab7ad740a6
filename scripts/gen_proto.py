#!/usr/bin/env python3
"""Generate the Python protobuf/gRPC code of libs/proto from proto/.

Uses the protoc bundled in grpcio-tools (``python -m grpc_tools.protoc``), never a network
plugin. Output goes to libs/proto/src so that modules import as ``vigie.<context>.v1.<file>_pb2``
(messages), ``..._pb2.pyi`` (typing stubs) and ``..._pb2_grpc`` (only for files that define a
service). Every package directory gets an empty ``__init__.py``; ``vigie/py.typed`` marks the
package as typed.

    python scripts/gen_proto.py           # regenerate, removing stale generated files
    python scripts/gen_proto.py --check   # exit 1 and list drifted files, change nothing

Generation always happens in a temporary directory first, so the result depends only on the
.proto files and the installed grpcio-tools version (which is embedded in the output).
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "libs" / "proto" / "src"
PACKAGE = "vigie"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
MARKERS = ("__init__.py", "py.typed")
_SERVICE_RE = re.compile(r"^\s*service\s+\w+", re.MULTILINE)


def _well_known_include() -> Path:
    import grpc_tools

    return Path(grpc_tools.__file__).resolve().parent / "_proto"


def _proto_files() -> list[str]:
    return sorted(p.relative_to(PROTO_DIR).as_posix() for p in PROTO_DIR.rglob("*.proto"))


def _is_managed(rel: Path) -> bool:
    """Whether a file under OUT_DIR/vigie is owned by this generator."""
    if "__pycache__" in rel.parts:
        return False
    return rel.name in MARKERS or rel.name.endswith(GENERATED_SUFFIXES)


def _managed_files(base: Path) -> set[Path]:
    root = base / PACKAGE
    if not root.is_dir():
        return set()
    return {
        p.relative_to(base)
        for p in root.rglob("*")
        if p.is_file() and _is_managed(p.relative_to(base))
    }


def generate(out: Path) -> None:
    """Generate the full package tree into ``out`` (which should be empty)."""
    protos = _proto_files()
    if not protos:
        sys.exit(f"no .proto files under {PROTO_DIR}")
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{_well_known_include()}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *protos,
    ]
    result = subprocess.run(cmd, cwd=PROTO_DIR, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        sys.exit(f"protoc failed (exit {result.returncode})")

    # grpc_python_out writes a *_pb2_grpc.py for every file; keep it only where a service exists.
    for proto in protos:
        if not _SERVICE_RE.search((PROTO_DIR / proto).read_text(encoding="utf-8")):
            (out / (proto.removesuffix(".proto") + "_pb2_grpc.py")).unlink(missing_ok=True)

    pkg_root = out / PACKAGE
    for directory in sorted({pkg_root, *(p for p in pkg_root.rglob("*") if p.is_dir())}):
        (directory / "__init__.py").write_bytes(b"")
    (pkg_root / "py.typed").write_bytes(b"")


def _diff(generated: Path, committed: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """Return (changed, missing_in_committed, stale_in_committed) relative paths."""
    want = _managed_files(generated)
    have = _managed_files(committed)
    changed = sorted(
        p for p in want & have if not filecmp.cmp(generated / p, committed / p, shallow=False)
    )
    return changed, sorted(want - have), sorted(have - want)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare freshly generated code with libs/proto/src; exit 1 if they differ",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="vigie-proto-") as tmp:
        tmp_out = Path(tmp)
        generate(tmp_out)
        changed, missing, stale = _diff(tmp_out, OUT_DIR)
        rel_out = OUT_DIR.relative_to(ROOT)

        if args.check:
            if not (changed or missing or stale):
                print(f"generated code in {rel_out} is up to date")
                return 0
            print(f"generated code in {rel_out} has drifted from proto/:", file=sys.stderr)
            for label, paths in (("changed", changed), ("missing", missing), ("stale", stale)):
                for p in paths:
                    print(f"  {label}: {rel_out / p}", file=sys.stderr)
            version = importlib.metadata.version("grpcio-tools")
            print(
                f"run: python scripts/gen_proto.py  (grpcio-tools {version} in this interpreter)",
                file=sys.stderr,
            )
            return 1

        for p in stale:
            (OUT_DIR / p).unlink()
        for p in [*changed, *missing]:
            (OUT_DIR / p).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tmp_out / p, OUT_DIR / p)
        # Drop package directories left empty by removed protos.
        for d in sorted((OUT_DIR / PACKAGE).rglob("*"), key=lambda q: len(q.parts), reverse=True):
            if d.is_dir() and not any(x for x in d.iterdir() if x.name != "__pycache__"):
                shutil.rmtree(d)
        n = len(changed) + len(missing) + len(stale)
        print(f"{rel_out}: {n} file(s) updated ({len(_managed_files(tmp_out))} generated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

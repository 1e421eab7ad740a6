"""Long fuzz runs of the targets in tests/fuzz/targets.py, printing how many inputs each got.

    python bench/fuzz/run_fuzz.py                       # every target, 60 s each
    python bench/fuzz/run_fuzz.py --seconds 600 --targets rules_yaml,codec_decode
    python bench/fuzz/run_fuzz.py --engine hypothesis   # without atheris

Engine `atheris` (default when installed; atheris 3.0.0 has CPython 3.11 wheels): libFuzzer,
coverage-guided over Vigie's modules and the YAML parser, one target per process, started from
the targets' seeds; a finding is a file under --artifacts. Engine `hypothesis`: random bytes and
mutated seeds, in batches, until the time is up. Either way a target that raises anything but
its own "refused" error is a finding, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS_DIR = HERE.parents[1] / "tests" / "fuzz"
sys.path.insert(0, str(TARGETS_DIR))

import targets as fuzz  # noqa: E402 - after the path

# What coverage is measured on: Vigie's own code and the YAML parser, not every library.
INSTRUMENTED = ["vigie_core", "vigie_rules", "vigie_ingest", "vigie_detect", "yaml"]
MODULES = ["vigie_core.codec", "vigie_core.topics", "vigie_core.processing",
           "vigie_detect.adapters.images", "vigie_ingest.adapters.source",
           "vigie_ingest.adapters.citizen", "vigie_rules.domain.spec", "yaml"]


def child_atheris(name: str, seconds: int, corpus: Path, artifacts: Path) -> None:
    import importlib

    import atheris

    with atheris.instrument_imports(include=INSTRUMENTED):
        for module in MODULES:
            importlib.import_module(module)
    target = fuzz.TARGETS[name]
    for seed in fuzz.seeds(name):
        target(seed)

    def one(data: bytes) -> None:
        target(data)

    atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={seconds}",
                   f"-artifact_prefix={artifacts}/{name}-", "-print_final_stats=1",
                   "-rss_limit_mb=3072", "-timeout=10"], one)
    atheris.Fuzz()


def run_atheris(name: str, seconds: int, artifacts: Path) -> tuple[int, float, str]:
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder)
        for i, seed in enumerate(fuzz.seeds(name)):
            (corpus / f"seed-{i}").write_bytes(seed)
        started = time.monotonic()
        done = subprocess.run([sys.executable, __file__, "--child", name, "--seconds",
                               str(seconds), "--corpus", str(corpus), "--artifacts",
                               str(artifacts)], capture_output=True, text=True,
                              timeout=seconds + 300)
        took = time.monotonic() - started
    log = done.stdout + done.stderr
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log) or \
        re.findall(r"Done (\d+) runs", log)
    if done.returncode != 0:
        tail = "\n".join(log.splitlines()[-25:])
        return int(runs[-1]) if runs else 0, took, f"FINDING (exit {done.returncode}):\n{tail}"
    return int(runs[-1]) if runs else 0, took, ""


def run_hypothesis(name: str, seconds: int) -> tuple[int, float, str]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    target, count = fuzz.TARGETS[name], 0
    edits = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 3),
                               st.integers(0, 255)), max_size=16)
    data = st.one_of(st.binary(max_size=8192),
                     st.builds(fuzz.mutate, st.sampled_from(fuzz.seeds(name)), edits))

    @settings(max_examples=500, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data)
    def batch(value: bytes) -> None:
        nonlocal count
        count += 1
        target(value)

    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            batch()
    except Exception as exc:  # hypothesis re-raises the shrunk failing example
        return count, time.monotonic() - started, f"FINDING: {exc!r}"
    return count, time.monotonic() - started, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="per target")
    parser.add_argument("--targets", default=",".join(sorted(fuzz.TARGETS)))
    parser.add_argument("--engine", choices=["atheris", "hypothesis"])
    parser.add_argument("--artifacts", type=Path, default=Path(tempfile.gettempdir())
                        / "vigie-fuzz")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_atheris(args.child, args.seconds, args.corpus, args.artifacts)
        return 0
    engine = args.engine
    if engine is None:
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    args.artifacts.mkdir(parents=True, exist_ok=True)
    print(f"engine {engine}, {args.seconds} s per target, findings in {args.artifacts}")
    findings = 0
    for name in args.targets.split(","):
        if engine == "atheris":
            runs, took, problem = run_atheris(name, args.seconds, args.artifacts)
        else:
            runs, took, problem = run_hypothesis(name, args.seconds)
        print(f"{name:24} {runs:>10} inputs in {took:6.1f} s ({runs / max(took, 1e-9):8.0f}/s)"
              + (f"  {problem}" if problem else "  ok"))
        findings += bool(problem)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

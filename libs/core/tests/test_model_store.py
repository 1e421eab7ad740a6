"""The model store: pinned files found offline in order (models dir, package, upstream only when
allowed), verified, with errors that say where it looked and what to do; the SHA-256 helper."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from vigie_core.hashing import file_sha256
from vigie_core.model_catalogue import DETECTION_MODELS, FACE_MODELS
from vigie_core.model_store import (
    FileSpec,
    ModelNotFound,
    ModelSpec,
    ModelStore,
    ModelVerificationError,
    UnknownModel,
)


def small_model(content: bytes, package: str | None = None, url: str | None = None) -> ModelSpec:
    return ModelSpec(name="small", backend="test", package=package, url=url,
                     files={"weights": FileSpec("small.onnx",
                                                hashlib.sha256(content).hexdigest(),
                                                len(content))})


def test_file_sha256_is_the_hash_of_the_bytes_read_in_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # more than one chunk
    (tmp_path / "f").write_bytes(data)
    assert file_sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()


def test_every_catalogue_model_is_pinned_and_names_are_unique() -> None:
    assert not set(DETECTION_MODELS) & set(FACE_MODELS)
    for spec in (*DETECTION_MODELS.values(), *FACE_MODELS.values()):
        assert spec.pinned and "weights" in spec.files and spec.package


def test_a_local_copy_wins_and_gives_the_model_id(tmp_path: Path) -> None:
    spec = small_model(b"weights")
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "small.onnx").write_bytes(b"weights")
    resolved = ModelStore(tmp_path, {"small": spec}).resolve("small")
    assert resolved.source == "local"
    assert resolved.model_id == f"small@{hashlib.sha256(b'weights').hexdigest()[:12]}"


def test_a_replaced_file_is_refused_with_both_hashes_and_the_way_back(tmp_path: Path) -> None:
    spec = small_model(b"weights")
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "small.onnx").write_bytes(b"other")
    store = ModelStore(tmp_path, {"small": spec}, restore="run `fetch {name}`")
    with pytest.raises(ModelVerificationError) as caught:
        store.resolve("small")
    message = str(caught.value)
    assert spec.files["weights"].sha256 in message and file_sha256(
        tmp_path / "small" / "small.onnx") in message
    assert message.endswith("delete it, then run `fetch small`)")
    assert [s.where for s in store.list()] == ["corrupt: small.onnx"]


def test_missing_everywhere_without_downloads_says_where_it_looked(tmp_path: Path) -> None:
    spec = small_model(b"weights", package="vigie_no_such_package", url="https://example.invalid/")
    store = ModelStore(tmp_path, {"small": spec})
    with pytest.raises(ModelNotFound) as caught:
        store.resolve("small")
    message = str(caught.value)
    assert "small.onnx not found" in message
    assert str(tmp_path / "small" / "small.onnx") in message
    assert "'vigie_no_such_package'" in message and "not installed" in message
    assert "--allow-downloads" in message
    assert [s.where for s in store.list()] == ["missing"]


def test_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel, match="unknown model 'big'; known models: small"):
        ModelStore(tmp_path, {"small": small_model(b"w")}).resolve("big")


def test_user_files_are_models_of_the_backend_their_suffix_names(tmp_path: Path) -> None:
    (tmp_path / "plates.onnx").write_bytes(b"onnx bytes")
    (tmp_path / "small.pt").write_bytes(b"pt bytes")  # the catalogue's name: named by filename
    (tmp_path / "notes.txt").write_text("not a model")
    store = ModelStore(tmp_path, {"small": small_model(b"w")},
                       user_files={".onnx": "runtime-a", ".PT": "runtime-b"})
    specs = store.specs()
    assert set(specs) == {"plates", "small.pt", "small"}
    assert (specs["plates"].backend, specs["small.pt"].backend) == ("runtime-a", "runtime-b")
    assert not specs["plates"].pinned
    assert store.resolve("plates").paths["weights"] == tmp_path / "plates.onnx"
    assert ModelStore(tmp_path, {}).user_models() == {}  # no backend takes user files


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
    catalogue = {"small": small_model(b"the real weights", url=url)}
    with pytest.raises(ModelNotFound):
        ModelStore(models, catalogue).resolve("small")
    resolved = ModelStore(models, catalogue, allow_downloads=True).resolve("small")
    assert resolved.source == "download"
    assert resolved.paths["weights"].read_bytes() == b"the real weights"
    assert ModelStore(models, catalogue).resolve("small").source == "local"

    (upstream / "small.onnx").write_bytes(b"tampered upstream")
    resolved.paths["weights"].unlink()
    with pytest.raises(ModelVerificationError, match=r"small\.onnx has sha256"):
        ModelStore(models, catalogue, allow_downloads=True).resolve("small")
    assert list((models / "small").iterdir()) == []  # a bad download is never kept

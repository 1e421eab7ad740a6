"""tests/required_inputs.py: the lookups the tests skip through, and the preflight .ci/run runs
after `make setup` (exit 1 naming everything missing, else one line per input found)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import required_inputs as inputs

SCRIPT = Path(inputs.__file__)


def shared_tree(root: Path) -> Path:
    """The files the shared-data lookups ask for, empty."""
    names = [f"clips/{clip}" for clip in inputs.CLIP_FILES]
    names += [f"mot15/{seq}/{name}" for seq in inputs.MOT15_SEQUENCES
              for name in (f"{seq}.mp4", "gt/gt.txt", "seqinfo.ini")]
    names += ["faces/lfw/meta/pairs.txt"]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()
    (root / "faces/lfw/images").mkdir()
    return root


def test_a_ci_run_without_the_shared_data_fails_naming_it(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                            env={**os.environ, "VIGIE_TEST_DATA": str(tmp_path)}, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    missing = [line for line in result.stderr.splitlines() if line.startswith("MISSING")]
    for name, folder in (("clips", "clips"), ("MOT15", "mot15"), ("LFW", "faces/lfw")):
        assert any(line.startswith(f"MISSING  shared data: {name}: ")
                   and f"{tmp_path / folder} does not exist" in line
                   and "VIGIE_TEST_DATA" in line for line in missing), result.stderr
    assert "CI must provide every one" in result.stderr
    assert "found    shared data" not in result.stdout


def test_the_shared_data_lookups_find_a_complete_copy_and_name_what_a_partial_one_lacks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_TEST_DATA", str(shared_tree(tmp_path)))
    assert inputs.clips() == tmp_path / "clips"
    assert inputs.mot15() == tmp_path / "mot15"
    assert inputs.lfw() == tmp_path / "faces/lfw"
    (tmp_path / "mot15/TUD-Campus/gt/gt.txt").unlink()
    with pytest.raises(inputs.Missing, match=r"missing: TUD-Campus/gt/gt\.txt\)"):
        inputs.mot15()


def test_need_skips_with_the_lookups_message_and_passes_anything_else_through() -> None:
    def absent() -> None:
        raise inputs.Missing("no Chromium at /nowhere")

    def broken() -> None:
        raise ValueError("yolov3-tiny.weights has sha256 00, expected ff")

    with pytest.raises(pytest.skip.Exception, match="no Chromium at /nowhere"):
        inputs.need(absent)
    with pytest.raises(ValueError, match="expected ff"):
        inputs.need(broken)
    assert inputs.need(lambda folder: folder, "/here") == "/here"


def test_the_preflight_prints_each_input_found_and_fails_on_anything_missing_or_broken(
        capsys: pytest.CaptureFixture[str]) -> None:
    def missing() -> str:
        raise inputs.Missing("java not found on PATH")

    def corrupt() -> str:
        raise RuntimeError("model yolov3-tiny: weights has sha256 00, expected ff")

    assert inputs.main([("Java", missing), ("Chromium", lambda: "/usr/bin/chromium"),
                        ("weights", corrupt)]) == 1
    out, err = capsys.readouterr()
    assert out == "found    Chromium: /usr/bin/chromium\n"
    assert "MISSING  Java: java not found on PATH\n" in err
    assert "MISSING  weights: RuntimeError: model yolov3-tiny: weights has sha256 00" in err
    assert inputs.main([("Chromium", lambda: "/usr/bin/chromium"), ("Java", lambda: "java")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["found    Chromium: /usr/bin/chromium", "found    Java: java"]
    assert err == ""

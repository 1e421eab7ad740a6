"""`vigie face evaluate`: the report from a folder of identities, on the package photos (what a
tiny real set can and cannot show) and on LFW (the accuracy the model card states)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

VIGIE = str(Path(sys.executable).with_name("vigie"))


def dataset(photos: Path, root: Path) -> Path:
    """Identities from the package photos; Jesper's face cropped out of two group photos."""
    people = {
        "person-a": [photos / "face_recognition" / f for f in
                     ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg",
                      "obama_partial_face2.jpg")],
        "person-c": [photos / "face_recognition/biden.jpg"],
        "person-d": [photos / "insightface/Tom_Hanks_54745.png"],
        "person-e": [photos / "kphotoalbum/anne_helene.jpg"],
        "person-f": [photos / "kphotoalbum/snow.jpg"],  # no face: a failure to acquire
    }
    for identity, files in people.items():
        (root / identity).mkdir(parents=True)
        for f in files:
            shutil.copyfile(f, root / identity / f.name)
    (root / "person-b").mkdir()
    shutil.copyfile(photos / "kphotoalbum/jesper_2.jpg", root / "person-b/1.jpg")
    for name, (x0, y0, x1, y1) in {"bar55_2.jpg": (300, 30, 560, 330),
                                   "qt-logo.jpg": (280, 10, 540, 320)}.items():
        image = cv2.imread(str(photos / "kphotoalbum" / name))
        cv2.imwrite(str(root / "person-b" / name), image[y0:y1, x0:x1])
    return root


def test_a_report_from_the_package_photos_says_what_they_cannot_show(photos, tmp_path):
    data = dataset(photos, tmp_path / "ids")
    (tmp_path / "male.txt").write_text("person-a\nperson-b\nperson-c\nperson-d\n")
    (tmp_path / "female.txt").write_text("person-e\n")
    out = tmp_path / "report"
    result = subprocess.run([VIGIE, "face", "evaluate", str(data), "--out", str(out),
                             "--group-list", f"sex:male={tmp_path / 'male.txt'}",
                             "--group-list", f"sex:female={tmp_path / 'female.txt'}",
                             "--bootstrap", "50", "--workers", "1", "--face", "largest"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "embedding: 12 in" in result.stderr  # progress
    results = json.loads((out / "results.json").read_text())
    assert results["fta"] == pytest.approx(1 / 12)  # the snow photo
    assert results["genuine"] == 10 + 3  # person-a: 5 photos, person-b: 3
    assert results["impostor"] == 10  # 5 identities with a face, one image each
    assert results["eer"]["rate"] == 0.0  # these few genuine pairs all beat these impostors
    assert results["calibration"] == {}  # 10 impostor pairs resolve no FMR down to 1e-2
    md = (out / "report.md").read_text()
    assert "no (too few impostor comparisons)" in md and "Per group: sex" in md
    assert "Too few impostor pairs to show an FMR of 0.001" in md
    html = (out / "report.html").read_text()
    assert "<table>" in html and "det.png" in html
    assert (out / "det.png").stat().st_size > 10_000 and (out / "scores.png").is_file()
    for text in (md, html, result.stderr):  # identity names never appear
        assert "person-" not in text


def test_lfw_view2_accuracy_on_two_folds(lfw, tmp_path):
    lines = (lfw / "meta/pairs.txt").read_text().splitlines()[1:]
    subset = []
    for fold in range(2):
        block = lines[fold * 600:(fold + 1) * 600]
        subset += block[:150] + block[300:450]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2\t150\n" + "\n".join(subset) + "\n")
    out = tmp_path / "lfw"
    result = subprocess.run([VIGIE, "face", "evaluate", str(lfw / "images"), "--pairs",
                             str(pairs), "--pairs-only", "--out", str(out), "--bootstrap",
                             "10", "--format", "md"], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["pairs"]["accuracy"] >= 0.97  # the full View 2 run gives 0.9938 (model card)
    assert results["pairs"]["fta_pairs"] == 0
    assert not (out / "report.html").exists()


def test_vigie_face_is_the_command_group_and_vigie_serve_face_the_service():
    models = subprocess.run([VIGIE, "face", "models"], capture_output=True, text=True,
                            timeout=120)
    assert models.returncode == 0, models.stderr
    assert models.stdout.count(": OK ") == 3 and "sface-2021dec@fb143eea0783" in models.stdout
    usage = subprocess.run([VIGIE, "serve", "--help"], capture_output=True, text=True,
                           timeout=120)
    assert "face" in usage.stdout
    missing = subprocess.run([VIGIE, "face", "evaluate", "/nonexistent"], capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2 and "is not a folder of identities" in missing.stderr

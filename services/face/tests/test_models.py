"""Face model files resolve offline from their packages, verified against their SHA-256 pins;
a replaced file is an error, never a fallback."""

from __future__ import annotations

import shutil

import pytest
from vigie_core.model_catalogue import FACE_MODELS
from vigie_core.model_store import ModelNotFound, ModelStore, ModelVerificationError
from vigie_face.adapters.factory import model_store


@pytest.mark.parametrize("name", sorted(FACE_MODELS))
def test_every_catalogue_model_resolves_from_its_package_and_matches_its_pin(tmp_path, name):
    resolved = model_store(tmp_path).resolve(name)
    assert resolved.source == "package"
    assert all(resolved.sha256[r] == f.sha256 for r, f in FACE_MODELS[name].files.items())
    assert resolved.model_id == f"{FACE_MODELS[name].id_name}@{resolved.sha256['weights'][:12]}"


def test_a_local_copy_wins_and_a_corrupted_one_is_refused(tmp_path):
    manager = model_store(tmp_path)
    packaged = manager.resolve("sface-2021dec-int8bq").paths["weights"]
    local = tmp_path / "sface-2021dec-int8bq" / packaged.name
    local.parent.mkdir()
    shutil.copyfile(packaged, local)
    assert manager.resolve("sface-2021dec-int8bq").source == "local"
    with local.open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ModelVerificationError, match="expected fb143eea"):
        manager.resolve("sface-2021dec-int8bq")


def test_a_missing_package_says_what_to_install(tmp_path):
    spec = FACE_MODELS["yunet-2023mar-int8bq"]
    from dataclasses import replace

    manager = ModelStore(tmp_path, {"x": replace(spec, name="x", package="no_such_package")})
    with pytest.raises(ModelNotFound, match="install 'no_such_package'"):
        manager.resolve("x")


def test_the_sface_file_loads_in_this_opencv_and_embeds_128_values(engine):
    import numpy as np

    image = np.full((200, 200, 3), 127, np.uint8)
    assert engine.detect(image) == []
    assert engine.dim == 128

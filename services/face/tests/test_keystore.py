"""Per-subject keys wrapped by a master key: erasure by key destruction, no silent fallback."""

from __future__ import annotations

import base64
import os

import pytest
from vigie_face.adapters.keystore import (
    FileKeyStore,
    KeyMissing,
    KeyStoreError,
    decrypt_template,
    encrypt_template,
    generate_master_key,
    load_master_key,
    new_key_id,
    parse_master_key,
)


def test_a_destroyed_key_makes_its_template_unreadable_for_every_replica(tmp_path):
    master = os.urandom(32)
    store = FileKeyStore(tmp_path / "keys", master)
    key_id = new_key_id()
    key = store.create(key_id)
    blob = encrypt_template(key, b"\x01" * 512, "subj-1", "sface@abc")
    other_replica = FileKeyStore(tmp_path / "keys", master)  # same volume, same master key
    assert decrypt_template(other_replica.get(key_id), blob, "subj-1", "sface@abc") == b"\x01" * 512
    wrapped = (tmp_path / "keys" / f"{key_id}.key").read_bytes()
    assert key not in wrapped  # only wrapped on disk
    assert store.destroy(key_id) and not store.destroy(key_id)
    with pytest.raises(KeyMissing):
        other_replica.get(key_id)
    with pytest.raises(FileExistsError):
        store.create(key_id) and store.create(key_id)


def test_templates_are_bound_to_their_subject_and_model(tmp_path):
    store = FileKeyStore(tmp_path, os.urandom(32))
    key_id = new_key_id()
    blob = encrypt_template(store.create(key_id), b"t" * 512, "subj-1", "sface@abc")
    for subject, model in (("subj-2", "sface@abc"), ("subj-1", "dlib@abc")):
        with pytest.raises(KeyStoreError, match="does not decrypt"):
            decrypt_template(store.get(key_id), blob, subject, model)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(KeyStoreError):
        decrypt_template(store.get(key_id), tampered, "subj-1", "sface@abc")


def test_a_store_refuses_another_master_key_and_bad_key_ids(tmp_path):
    FileKeyStore(tmp_path, os.urandom(32))
    with pytest.raises(KeyStoreError, match="wrapped by another master key"):
        FileKeyStore(tmp_path, os.urandom(32))
    store = FileKeyStore(tmp_path / "b", os.urandom(32))
    with pytest.raises(KeyStoreError, match="malformed key id"):
        store.get("../../etc/passwd")


def test_master_keys_are_generated_once_private_and_parsed_strictly(tmp_path):
    path = tmp_path / "face" / "master.key"
    key = generate_master_key(path)
    assert load_master_key(path) == key and path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        generate_master_key(path)  # never overwrites: that would orphan every wrapped key
    assert parse_master_key(key.hex().encode()) == key
    assert parse_master_key(base64.b64encode(key)) == key
    with pytest.raises(KeyStoreError, match="32 bytes"):
        parse_master_key(b"secret")
    with pytest.raises(KeyStoreError, match="cannot read"):
        load_master_key(tmp_path / "missing.key")

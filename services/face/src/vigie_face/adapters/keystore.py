"""Per-subject template keys, wrapped by a master key; destroying a key erases the template.

Each watchlist entry's template is encrypted with AES-256-GCM under a key of its own (`key_id`,
random). The key store keeps that data key only *wrapped* (AES-256-GCM under the master key, the
key id as associated data), so the key-store volume alone reveals nothing. Erasure = the
tombstone on vigie.watchlist.v1 plus `destroy(key_id)`: the wrapped key file is overwritten and
unlinked, and the encrypted template still on the topic (until compaction removes it) can no
longer be read by anyone.

`KeyStore` is the interface; `FileKeyStore` keeps one file per key in a directory that every
face replica mounts (a ReadWriteMany volume, or a single replica's disk in the embedded runtime).
A KMS or Vault transit implementation would wrap and unwrap remotely behind the same interface.

Master key: 32 bytes, from a file (base64 or hex; e.g. a Kubernetes secret mounted read-only).
Nothing has a default: the embedded runtime generates one on first start under the data dir
(0600), and a distributed deployment must provide one (the service refuses to start otherwise),
so that replicas share it and it never sits beside the wrapped keys by accident.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = b"VK1"  # wrapped key file: magic || nonce || AES-GCM(master, data key, aad=key id)
KEY_ID = re.compile(r"^k-[0-9a-f]{32}$")


class KeyStoreError(Exception):
    """A key is missing, unreadable or wrapped by another master key."""


class KeyMissing(KeyStoreError):
    pass


def new_key_id() -> str:
    return f"k-{secrets.token_hex(16)}"


def parse_master_key(text: bytes) -> bytes:
    raw = text.strip()
    for decode in (binascii.unhexlify, base64.b64decode):
        try:
            key = decode(raw)
        except (ValueError, binascii.Error):
            continue
        if len(key) == KEY_BYTES:
            return key
    raise KeyStoreError("the master key file must hold 32 bytes as base64 or hex")


def load_master_key(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyStoreError(f"cannot read the master key file {path}: "
                            f"{exc.strerror or exc}") from None
    return parse_master_key(data)


def generate_master_key(path: Path) -> bytes:
    """A new random master key written to `path` (0600, created exclusively: never overwrites
    an existing key, which would make every wrapped key unreadable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64encode(key) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    return key


def fingerprint(master: bytes) -> str:
    """A public identifier of a master key (never the key): which one wraps a store."""
    return hashlib.sha256(b"vigie-face-master-key" + master).hexdigest()[:16]


class KeyStore(ABC):
    @abstractmethod
    def create(self, key_id: str) -> bytes:
        """A new random data key stored under `key_id` (which must not exist); returns it."""

    @abstractmethod
    def get(self, key_id: str) -> bytes:
        """The data key, or KeyMissing once destroyed."""

    @abstractmethod
    def destroy(self, key_id: str) -> bool:
        """Destroy the key for good; False when it was already gone."""

    @abstractmethod
    def exists(self, key_id: str) -> bool: ...


class FileKeyStore(KeyStore):
    def __init__(self, directory: Path, master: bytes) -> None:
        if len(master) != KEY_BYTES:
            raise KeyStoreError("master key must be 32 bytes")
        self.directory = directory
        self._wrap = AESGCM(master)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        marker = directory / "MASTER-KEY-FINGERPRINT"
        mark = fingerprint(master)
        if marker.exists():
            if marker.read_text().strip() != mark:
                raise KeyStoreError(f"the key store {directory} is wrapped by another master key "
                                    f"(fingerprint {marker.read_text().strip()}, this key "
                                    f"{mark}): give the master key it was created with")
        else:
            marker.write_text(mark + "\n")

    def _path(self, key_id: str) -> Path:
        if not KEY_ID.match(key_id):
            raise KeyStoreError(f"malformed key id {key_id!r}")
        return self.directory / f"{key_id}.key"

    def create(self, key_id: str) -> bytes:
        path = self._path(key_id)
        key = secrets.token_bytes(KEY_BYTES)
        nonce = secrets.token_bytes(NONCE_BYTES)
        blob = FORMAT + nonce + self._wrap.encrypt(nonce, key, key_id.encode())
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".new-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # atomic, and fails if the key id exists: never replaces
            except FileExistsError:
                raise
            except OSError:  # a volume without hard links (some SMB shares): exclusive create
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                    f.flush()
                    os.fsync(f.fileno())
        finally:
            os.unlink(tmp)
        return key

    def get(self, key_id: str) -> bytes:
        path = self._path(key_id)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise KeyMissing(f"key {key_id} does not exist (erased, or another store)") from None
        if not blob.startswith(FORMAT) or len(blob) < len(FORMAT) + NONCE_BYTES + 16:
            raise KeyStoreError(f"key {key_id}: not a wrapped key file")
        nonce = blob[len(FORMAT):len(FORMAT) + NONCE_BYTES]
        try:
            return self._wrap.decrypt(nonce, blob[len(FORMAT) + NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise KeyStoreError(f"key {key_id}: cannot be unwrapped (another master key, or "
                                "the file was altered)") from None

    def destroy(self, key_id: str) -> bool:
        path = self._path(key_id)
        try:
            size = path.stat().st_size
            with path.open("r+b") as f:  # best effort on filesystems that overwrite in place
                f.write(secrets.token_bytes(size))
                f.flush()
                os.fsync(f.fileno())
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, key_id: str) -> bool:
        return self._path(key_id).is_file()


def _aad(subject_id: str, template_model_id: str) -> bytes:
    return f"vigie.face.v1.WatchlistEntry|{subject_id}|{template_model_id}".encode()


def encrypt_template(key: bytes, template: bytes, subject_id: str, model_id: str) -> bytes:
    """nonce || ciphertext || tag; bound to the subject and model, so it cannot be moved."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, template, _aad(subject_id, model_id))


def decrypt_template(key: bytes, blob: bytes, subject_id: str, model_id: str) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                   _aad(subject_id, model_id))
    except InvalidTag:
        raise KeyStoreError("template does not decrypt with its key (altered, or moved to "
                            "another subject)") from None

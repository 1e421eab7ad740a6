"""The token store: client tokens (machines and integrators) with roles and an expiry.

One JSON file per deployment (`VIGIE_AUTH_TOKENS_FILE`, default
`<VIGIE_DATA_DIR>/auth/tokens.json`, mode 0600), shared by the processes that read it: a file
on one machine, a mounted Secret in Kubernetes. It holds the SHA-256 of each token, never the
token, which is shown once by `vigie tokens create`. Servers re-read it when it changes, so a
revocation or a new token takes effect without a restart (a mounted Secret: within the
kubelet's sync period). A file that cannot be read or parsed accepts no token at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vigie_core.auth.model import Identity, check_roles

log = logging.getLogger(__name__)

CLIENT_PREFIX = "vgc_"
FORMAT_VERSION = 1


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str = CLIENT_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at else None


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class TokenEntry:
    id: str
    name: str
    roles: tuple[str, ...]
    sha256: str
    created_at: str
    created_by: str
    expires_at: str | None = None
    revoked_at: str | None = None

    def state(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        if self.revoked_at:
            return "revoked"
        expires = _time(self.expires_at)
        if expires is not None and expires <= now:
            return "expired"
        return "active"

    def identity(self) -> Identity:
        return Identity(f"client:{self.name}", frozenset(self.roles), "token",
                        credential_id=self.id)


class TokenStoreError(RuntimeError):
    pass


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._signature: tuple[int, int, int] | None = None
        self._by_hash: dict[str, TokenEntry] = {}
        self._error = ""
        self._loaded = False

    # -- reading ------------------------------------------------------------------------------
    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read(self) -> list[TokenEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
            raise TokenStoreError(f"{self.path}: not a version {FORMAT_VERSION} token store")
        return [TokenEntry(**{**e, "roles": tuple(e["roles"])}) for e in document["tokens"]]

    def _refresh(self) -> None:
        signature = self._stat()
        if self._loaded and signature == self._signature:
            return
        try:
            entries = self._read() if signature is not None else []
            self._by_hash = {e.sha256: e for e in entries}
            self._error = ""
        except (OSError, ValueError, KeyError, TypeError, TokenStoreError) as exc:
            self._by_hash = {}  # fail closed: no token accepted from a broken store
            self._error = f"{type(exc).__name__}: {exc}"
            log.error("token store %s unreadable, no client token accepted: %s", self.path,
                      self._error)
        self._signature, self._loaded = signature, True

    def lookup(self, token: str, now: datetime | None = None) -> TokenEntry | None:
        """The active entry of `token`, or None (unknown, revoked or expired)."""
        self._refresh()
        entry = self._by_hash.get(token_hash(token))
        if entry is None or entry.state(now) != "active":
            return None
        return entry

    def entries(self) -> list[TokenEntry]:
        self._refresh()
        if self._error:
            raise TokenStoreError(self._error)
        return sorted(self._by_hash.values(), key=lambda e: (e.created_at, e.id))

    def active_count(self) -> int:
        self._refresh()
        return sum(e.state() == "active" for e in self._by_hash.values())

    @property
    def error(self) -> str:
        self._refresh()
        return self._error

    # -- writing (vigie tokens, the embedded runtime's first start) ---------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[TokenEntry]]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            entries = self._read()
            yield entries
            self._write(entries)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _write(self, entries: list[TokenEntry]) -> None:
        document = {"version": FORMAT_VERSION, "tokens": [asdict(e) for e in entries]}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tokens-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._loaded = False  # re-read on next lookup

    def create(self, name: str, role_names: Iterable[str], ttl: timedelta | None,
               created_by: str) -> tuple[str, TokenEntry]:
        """A new token (returned once, never stored) and its entry."""
        if not name or len(name) > 80 or not all(c.isalnum() or c in "._-@" for c in name):
            raise ValueError("name: 1-80 letters, digits, . _ - @")
        granted = tuple(sorted(check_roles(role_names)))
        token = new_token()
        now = datetime.now(UTC)
        entry = TokenEntry(id="tok_" + secrets.token_hex(6), name=name, roles=granted,
                           sha256=token_hash(token), created_at=_iso(now) or "",
                           created_by=created_by, expires_at=_iso(now + ttl) if ttl else None)
        with self._locked() as entries:
            entries.append(entry)
        return token, entry

    def revoke(self, key: str) -> list[TokenEntry]:
        """Revoke the active tokens whose id or name is `key`; returns them."""
        revoked = []
        with self._locked() as entries:
            now = _iso(datetime.now(UTC))
            for i, e in enumerate(entries):
                if key in (e.id, e.name) and e.revoked_at is None:
                    entries[i] = TokenEntry(**{**asdict(e), "revoked_at": now})
                    revoked.append(entries[i])
        return revoked

    def purge(self, older_than: timedelta) -> int:
        """Forget revoked or expired entries older than `older_than`."""
        cutoff = datetime.now(UTC) - older_than
        with self._locked() as entries:
            keep = [e for e in entries if e.state() == "active"
                    or (_time(e.revoked_at or e.expires_at) or cutoff) > cutoff]
            removed = len(entries) - len(keep)
            entries[:] = keep
        return removed


def ensure_local_token(store: TokenStore, token_file: Path, role_names: Iterable[str]) -> bool:
    """The embedded runtime's first start: a random local token with `role_names`, written to
    `token_file` (0600) for the vigie commands of the person who runs it. Returns True when a
    new one was made (none yet, or the previous one revoked, expired or lost)."""
    try:
        current = token_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        current = ""
    if current and store.lookup(current) is not None:
        return False
    store.revoke("local-admin")
    token, _ = store.create("local-admin", role_names, None, "vigie run (first start)")
    token_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    os.chmod(token_file, 0o600)
    return True

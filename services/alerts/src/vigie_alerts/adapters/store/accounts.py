"""Console accounts and their personal API tokens (only the tokens' SHA-256 is kept)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from vigie_alerts.adapters.store.tables import SessionRow, TokenRow, UserRow, now_utc, utc


@dataclass(frozen=True)
class User:
    login: str
    role: str
    password_hash: str
    created_at: datetime
    created_by: str
    disabled: bool
    failed_logins: int
    locked_until: datetime | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: UserRow) -> User:
    return User(row.login, row.role, row.password_hash, utc(row.created_at) or now_utc(),
                row.created_by, row.disabled, row.failed_logins, utc(row.locked_until))


class Accounts:
    """Synchronous; every method is one transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def create_user(self, login: str, role: str, password_hash: str, created_by: str) -> bool:
        with self.sessions() as s, s.begin():
            if s.get(UserRow, login) is not None:
                return False
            s.add(UserRow(login=login, role=role, password_hash=password_hash,
                          created_at=now_utc(), created_by=created_by, disabled=False,
                          failed_logins=0, locked_until=None))
        return True

    def get_user(self, login: str) -> User | None:
        with self.sessions() as s:
            row = s.get(UserRow, login)
            return _user(row) if row is not None else None

    def list_users(self) -> list[User]:
        with self.sessions() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.login))]

    def count_users(self, role: str | None = None) -> int:
        """Active accounts (of `role`)."""
        stmt = select(func.count()).select_from(UserRow).where(UserRow.disabled.is_(False))
        if role:
            stmt = stmt.where(UserRow.role == role)
        with self.sessions() as s:
            return int(s.scalar(stmt) or 0)

    def update_user(self, login: str, **values: Any) -> bool:
        """Change an account; a change of role, password or the disabled flag ends its
        sessions."""
        with self.sessions() as s, s.begin():
            result = s.execute(update(UserRow).where(UserRow.login == login).values(**values))
            if "disabled" in values or "password_hash" in values or "role" in values:
                s.execute(delete(SessionRow).where(SessionRow.login == login))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def login_failed(self, login: str, max_failures: int, lockout: timedelta) -> None:
        with self.sessions() as s, s.begin():
            row = s.get(UserRow, login)
            if row is None:
                return
            row.failed_logins += 1
            if row.failed_logins >= max_failures:
                row.locked_until = now_utc() + lockout
                row.failed_logins = 0

    def create_token(self, token: str, login: str, name: str) -> None:
        with self.sessions() as s, s.begin():
            s.add(TokenRow(token_hash=token_hash(token), login=login, name=name,
                           created_at=now_utc(), revoked=False))

    def token_user(self, token: str) -> User | None:
        """The active account a personal API token belongs to."""
        with self.sessions() as s:
            row = s.get(TokenRow, token_hash(token))
            if row is None or row.revoked:
                return None
            user = s.get(UserRow, row.login)
            return _user(user) if user is not None and not user.disabled else None

    def revoke_tokens(self, login: str, name: str | None = None) -> int:
        with self.sessions() as s, s.begin():
            stmt = update(TokenRow).where(TokenRow.login == login)
            if name:
                stmt = stmt.where(TokenRow.name == name)
            return int(s.execute(stmt.values(revoked=True)).rowcount)  # type: ignore[attr-defined]

"""Console sessions: the cookie's SHA-256, its CSRF token, idle and absolute timeouts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session, sessionmaker
from vigie_alerts.adapters.store.accounts import token_hash
from vigie_alerts.adapters.store.tables import SessionRow, UserRow, now_utc, utc


@dataclass(frozen=True)
class SessionInfo:
    login: str
    role: str
    csrf: str
    created_at: datetime
    last_seen_at: datetime


class Sessions:
    """Synchronous; every method is one transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def create_session(self, token: str, login: str, csrf: str) -> None:
        """A new session of `login`, whose failed logins are forgotten."""
        at = now_utc()
        with self.sessions() as s, s.begin():
            s.add(SessionRow(token_hash=token_hash(token), login=login, csrf=csrf, created_at=at,
                             last_seen_at=at))
            s.execute(update(UserRow).where(UserRow.login == login)
                      .values(failed_logins=0, locked_until=None))

    def session(self, token: str, idle: timedelta, max_age: timedelta,
                touch_after: timedelta = timedelta(seconds=30)) -> SessionInfo | None:
        """The live session of `token` (expired ones are deleted), last_seen refreshed."""
        now = now_utc()
        with self.sessions() as s, s.begin():
            row = s.get(SessionRow, token_hash(token))
            if row is None:
                return None
            user = s.get(UserRow, row.login)
            created, seen = utc(row.created_at) or now, utc(row.last_seen_at) or now
            if (user is None or user.disabled or now - seen > idle
                    or now - created > max_age):
                s.delete(row)
                return None
            if now - seen > touch_after:
                row.last_seen_at = now
            return SessionInfo(row.login, user.role, row.csrf, created, seen)

    def delete_session(self, token: str) -> None:
        with self.sessions() as s, s.begin():
            s.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash(token)))

    def purge_sessions(self, idle: timedelta, max_age: timedelta) -> int:
        now = now_utc()
        with self.sessions() as s, s.begin():
            result = s.execute(delete(SessionRow).where(or_(
                SessionRow.last_seen_at < now - idle, SessionRow.created_at < now - max_age)))
            return int(result.rowcount)  # type: ignore[attr-defined]

"""Accounts: argon2id password hashes, login with lock-out, sessions and API tokens.

There is no default account and no default password: the first admin is created with
`vigie alerts admin create`. Session tokens and API tokens are random 256-bit values handed to
the client once; the database keeps only their SHA-256. Password checks take the same time
whether or not the login exists.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from vigie_alerts.adapters.store import User, now_utc
from vigie_alerts.adapters.store.accounts import Accounts
from vigie_alerts.domain.roles import Role, parse_role

LOGIN = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
TOKEN_PREFIX = "vgt_"  # noqa: S105 - a prefix, not a secret
_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """Why an account operation was refused, for the person doing it."""


@dataclass(frozen=True)
class Identity:
    login: str
    role: str


def check_login(login: str) -> str:
    if not LOGIN.match(login):
        raise AccountError("login: 2-64 characters, lower-case letters, digits, . _ -, "
                           "starting with a letter")
    return login


def check_password(password: str, min_chars: int) -> str:
    if len(password) < min_chars:
        raise AccountError(f"password: at least {min_chars} characters")
    if len(password) > 1024:
        raise AccountError("password: at most 1024 characters")
    if len(set(password)) < 4:
        raise AccountError("password: too repetitive")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def create_user(accounts: Accounts, login: str, role: str, password: str, created_by: str,
                min_chars: int) -> User:
    check_login(login)
    if parse_role(role) is None:
        raise AccountError(f"role must be one of {', '.join(r.value for r in Role)}")
    check_password(password, min_chars)
    if not accounts.create_user(login, role, hash_password(password), created_by):
        raise AccountError(f"an account named {login!r} already exists")
    user = accounts.get_user(login)
    assert user is not None
    return user


def authenticate(accounts: Accounts, login: str, password: str, max_failures: int,
                 lockout: timedelta) -> Identity | None:
    """The identity when the password is right and the account usable, else None (the caller
    says only "login failed": no hint whether the login exists or is locked)."""
    user = accounts.get_user(login) if LOGIN.match(login) else None
    if user is None:
        verify_password(_DUMMY_HASH, password)  # same cost as a real check
        return None
    locked = user.locked_until is not None and user.locked_until > now_utc()
    ok = verify_password(user.password_hash, password)
    if user.disabled or locked:
        return None
    if not ok:
        accounts.login_failed(login, max_failures, lockout)
        return None
    return Identity(user.login, user.role)

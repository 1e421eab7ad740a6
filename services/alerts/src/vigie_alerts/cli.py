"""`vigie alerts ...`: accounts, API tokens and the suspend switch, from the machine that runs the
service (it writes the history database directly: VIGIE_ALERTS_DATABASE_URL, or the SQLite file
under VIGIE_DATA_DIR).

  vigie alerts admin create --login NAME        the first administrator (there is no default)
  vigie alerts user add --login NAME --role R   operator | supervisor | auditor | admin
  vigie alerts user list | disable | enable | passwd --login NAME
  vigie alerts token create --login NAME --name LABEL   an API token for gRPC (printed once)
  vigie alerts token revoke --login NAME [--name LABEL]
  vigie alerts dispatch suspend --reason TEXT | resume | status

Passwords are read without echo (twice), or one line from standard input with --password-stdin.
Changes made here are audited: the running service seals them into its audit chain.
With the `alerts` command taken by these, the service itself runs as `vigie serve alerts`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie_core.settings import CoreSettings

from vigie_alerts.adapters import auth
from vigie_alerts.adapters.store import Store, open_store
from vigie_alerts.adapters.store.state import DISPATCH_STATE
from vigie_alerts.config import Settings
from vigie_alerts.domain.roles import Role


def _store() -> tuple[Store, Settings]:
    try:
        settings, core = Settings(), CoreSettings()
    except ValidationError as exc:
        sys.exit(f"vigie alerts: invalid settings: {exc}")
    url = settings.database_url or f"sqlite:///{core.data_dir / 'alerts' / 'alerts.db'}"
    try:
        return open_store(url, 1), settings
    except Exception as exc:
        sys.exit(f"vigie alerts: cannot open the history database: {type(exc).__name__}: {exc}")


def _actor() -> str:
    try:
        return f"command-line:{getpass.getuser()}"
    except Exception:
        return "command-line"


def _password(args: argparse.Namespace, min_chars: int) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            sys.exit("vigie alerts: the passwords differ")
    try:
        return auth.check_password(password, min_chars)
    except auth.AccountError as exc:
        sys.exit(f"vigie alerts: {exc}")


def _audit(store: Store, action: int, subject: str, details: dict[str, str]) -> None:
    store.audit_outbox.add_pending_audit(action, subject, _actor(), details,
                                         f"cli-{uuid.uuid4().hex}")


def cmd_add(args: argparse.Namespace, role: str | None = None) -> int:
    store, settings = _store()
    role = role or args.role
    login = args.login.strip().lower()
    try:
        auth.check_login(login)
    except auth.AccountError as exc:
        sys.exit(f"vigie alerts: {exc}")
    if store.accounts.get_user(login) is not None:
        sys.exit(f"vigie alerts: an account named {login!r} already exists")
    password = _password(args, settings.password_min_chars)
    try:
        auth.create_user(store.accounts, login, str(role), password, _actor(),
                         settings.password_min_chars)
    except auth.AccountError as exc:
        sys.exit(f"vigie alerts: {exc}")
    _audit(store, AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE, f"account:{login}",
           {"change": "created", "role": str(role), "via": "command line"})
    print(f"created {role} account {login}")
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    return cmd_add(args, Role.ADMIN.value)


def cmd_list(_: argparse.Namespace) -> int:
    store, _settings = _store()
    for user in store.accounts.list_users():
        state = "disabled" if user.disabled else "active"
        print(f"{user.login:24} {user.role:11} {state:9} created {user.created_at:%Y-%m-%d} "
              f"by {user.created_by}")
    return 0


def cmd_enable(args: argparse.Namespace, disabled: bool) -> int:
    store, _settings = _store()
    if not store.accounts.update_user(args.login, disabled=disabled):
        sys.exit(f"vigie alerts: no account {args.login!r}")
    _audit(store, AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE, f"account:{args.login}",
           {"change": "disabled" if disabled else "enabled", "via": "command line"})
    print(f"{'disabled' if disabled else 'enabled'} {args.login}")
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    store, settings = _store()
    if store.accounts.get_user(args.login) is None:
        sys.exit(f"vigie alerts: no account {args.login!r}")
    password = _password(args, settings.password_min_chars)
    store.accounts.update_user(args.login, password_hash=auth.hash_password(password),
                               failed_logins=0, locked_until=None)
    _audit(store, AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE, f"account:{args.login}",
           {"change": "password", "via": "command line"})
    print(f"password changed for {args.login}; its sessions ended")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    store, _settings = _store()
    user = store.accounts.get_user(args.login)
    if user is None or user.disabled:
        sys.exit(f"vigie alerts: no active account {args.login!r}")
    token = auth.new_token(auth.TOKEN_PREFIX)
    store.accounts.create_token(token, user.login, args.name)
    _audit(store, AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE, f"account:{user.login}",
           {"change": "token created", "token_name": args.name, "via": "command line"})
    print(token)
    print(f"(API token {args.name!r} for {user.login} ({user.role}); shown once, keep it "
          "secret)", file=sys.stderr)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    store, _settings = _store()
    n = store.accounts.revoke_tokens(args.login, args.name)
    _audit(store, AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE, f"account:{args.login}",
           {"change": "token revoked", "token_name": args.name or "*", "via": "command line"})
    print(f"revoked {n} token(s)")
    return 0


def cmd_dispatch(args: argparse.Namespace) -> int:
    store, _settings = _store()
    if args.action == "status":
        print(json.dumps(store.state.get_state(DISPATCH_STATE) or {"suspended": False},
                         indent=2))
        return 0
    suspended = args.action == "suspend"
    if suspended and not args.reason:
        sys.exit("vigie alerts: say why with --reason")
    state: dict[str, Any] = {"suspended": suspended, "by": _actor(),
                             "at": datetime.now(UTC).isoformat(), "reason": args.reason or ""}
    store.state.set_state(DISPATCH_STATE, state)
    _audit(store, AuditAction.AUDIT_ACTION_DISPATCH_SUSPENSION, "dispatch:all",
           {"suspended": str(suspended).lower(), "reason": args.reason or "",
            "via": "command line"})
    print("dispatch suspended" if suspended else "dispatch resumed")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    alerts = sub.add_parser("alerts", help="alerts console accounts, API tokens, dispatch "
                            "switch (the service itself: vigie serve alerts)")
    groups = alerts.add_subparsers(dest="alerts_command", required=True)

    def password_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--password-stdin", action="store_true",
                       help="read the password as one line from standard input")

    admin = groups.add_parser("admin", help="administrators").add_subparsers(
        dest="admin_command", required=True)
    create = admin.add_parser("create", help="create an administrator (the first one)")
    create.add_argument("--login", required=True)
    password_flag(create)
    create.set_defaults(func=cmd_admin)

    user = groups.add_parser("user", help="console accounts").add_subparsers(
        dest="user_command", required=True)
    add = user.add_parser("add", help="create an account")
    add.add_argument("--login", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    password_flag(add)
    add.set_defaults(func=cmd_add)
    user.add_parser("list", help="list accounts").set_defaults(func=cmd_list)
    for name, disabled in (("disable", True), ("enable", False)):
        p = user.add_parser(name, help=f"{name} an account")
        p.add_argument("--login", required=True)
        p.set_defaults(func=lambda a, d=disabled: cmd_enable(a, d))
    passwd = user.add_parser("passwd", help="set a new password")
    passwd.add_argument("--login", required=True)
    password_flag(passwd)
    passwd.set_defaults(func=cmd_passwd)

    token = groups.add_parser("token", help="API tokens for gRPC").add_subparsers(
        dest="token_command", required=True)
    tcreate = token.add_parser("create", help="create a token (printed once)")
    tcreate.add_argument("--login", required=True)
    tcreate.add_argument("--name", required=True, help="what the token is for")
    tcreate.set_defaults(func=cmd_token_create)
    revoke = token.add_parser("revoke", help="revoke tokens")
    revoke.add_argument("--login", required=True)
    revoke.add_argument("--name")
    revoke.set_defaults(func=cmd_token_revoke)

    dispatch = groups.add_parser("dispatch", help="the suspend switch of external dispatch")
    dispatch.add_argument("action", choices=["suspend", "resume", "status"])
    dispatch.add_argument("--reason", default="")
    dispatch.set_defaults(func=cmd_dispatch)

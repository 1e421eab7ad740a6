"""`vigie tokens ...` (client tokens of the token store) and `vigie certs ...` (a development CA,
server and client certificates for mutual TLS).

  vigie tokens create --name vms --role integrator [--role ...] [--expires 90d|never]
  vigie tokens list [--json]
  vigie tokens revoke ID_OR_NAME
  vigie certs ca [--dir DIR]
  vigie certs server NAME [--host H ...] [--role R ...]   (serves and calls: server + client)
  vigie certs client NAME --role R [--role ...]             (a client only)

Tokens are printed once, on standard output, and stored as SHA-256 in VIGIE_AUTH_TOKENS_FILE
(default <VIGIE_DATA_DIR>/auth/tokens.json). Certificates go to --dir (default
<VIGIE_DATA_DIR>/tls), keys mode 0600; a certificate's CN is its holder's name and its O
entries the holder's roles.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from vigie_core.auth.model import ROLES
from vigie_core.auth.tokens import TokenStore, TokenStoreError
from vigie_core.settings import CoreSettings

DURATION = re.compile(r"^(\d+)([hdw])$")


def _core() -> CoreSettings:
    try:
        return CoreSettings()
    except ValidationError as exc:
        sys.exit(f"vigie: invalid settings: {exc}")


def _who() -> str:
    try:
        return f"command-line:{getpass.getuser()}"
    except Exception:
        return "command-line"


def parse_ttl(value: str) -> timedelta | None:
    if value == "never":
        return None
    match = DURATION.match(value)
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError("a duration like 12h, 90d or 8w, or never")
    n, unit = int(match.group(1)), match.group(2)
    return {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


def cmd_tokens(args: argparse.Namespace) -> int:
    store = TokenStore(_core().tokens_file)
    try:
        if args.action == "create":
            token, entry = store.create(args.name, args.role, args.expires, _who())
            print(token)
            until = entry.expires_at or "never"
            print(f"(client token {entry.id} for {entry.name}, roles {', '.join(entry.roles)}, "
                  f"expires {until}; shown once, keep it secret)", file=sys.stderr)
        elif args.action == "list":
            entries = store.entries()
            if args.json:
                for e in entries:
                    print(json.dumps({"id": e.id, "name": e.name, "roles": list(e.roles),
                                      "state": e.state(), "created_at": e.created_at,
                                      "created_by": e.created_by, "expires_at": e.expires_at,
                                      "revoked_at": e.revoked_at}))
            for e in entries if not args.json else []:
                print(f"{e.id:18} {e.name:24} {','.join(e.roles):28} {e.state():8} "
                      f"expires {e.expires_at or 'never'}")
        else:
            revoked = store.revoke(args.key)
            if not revoked:
                sys.exit(f"vigie tokens: no active token named or numbered {args.key!r}")
            print(f"revoked {', '.join(e.id for e in revoked)}")
    except (OSError, TokenStoreError, ValueError) as exc:
        sys.exit(f"vigie tokens: {exc}")
    return 0


def cmd_certs(args: argparse.Namespace) -> int:
    from vigie_core.auth import certs

    directory = Path(args.dir) if args.dir else _core().data_dir / "tls"
    try:
        if args.action == "ca":
            issued = certs.create_ca(directory)
            print(f"CA: {issued.cert} (key {issued.key}, keep it off the servers)")
            print(f"servers check clients with: VIGIE_TLS_CLIENT_CA_FILE={issued.cert}")
            print(f"clients check servers with: VIGIE_TLS_CA_FILE={issued.cert}")
            return 0
        if args.action == "server":
            hosts = args.host or ["localhost", "127.0.0.1"]
            issued = certs.issue(directory, args.name, server_names=hosts,
                                 role_names=args.role, client=True, days=args.days)
            print(f"VIGIE_TLS_CERT_FILE={issued.cert}\nVIGIE_TLS_KEY_FILE={issued.key}")
            print(f"VIGIE_TLS_CLIENT_CERT_FILE={issued.cert}\nVIGIE_TLS_CLIENT_KEY_FILE="
                  f"{issued.key}")
            return 0
        issued = certs.issue(directory, args.name, role_names=args.role, client=True,
                             days=args.days)
        print(f"VIGIE_TLS_CLIENT_CERT_FILE={issued.cert}\nVIGIE_TLS_CLIENT_KEY_FILE="
              f"{issued.key}")
        return 0
    except (OSError, ValueError) as exc:
        sys.exit(f"vigie certs: {exc}")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    roles = sorted(ROLES)
    tokens = sub.add_parser("tokens", help="client tokens with roles (gRPC and HTTP)")
    actions = tokens.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new token, printed once")
    create.add_argument("--name", required=True, help="who or what holds it (e.g. vms-north)")
    create.add_argument("--role", action="append", required=True, choices=roles)
    create.add_argument("--expires", type=parse_ttl, default=timedelta(days=90),
                        help="12h, 90d, 8w or never (default 90d)")
    listing = actions.add_parser("list", help="tokens and their state (never the tokens)")
    listing.add_argument("--json", action="store_true")
    revoke = actions.add_parser("revoke", help="revoke by id or name")
    revoke.add_argument("key")
    tokens.set_defaults(func=cmd_tokens)

    certs = sub.add_parser("certs", help="a development CA and certificates for mutual TLS")
    kinds = certs.add_subparsers(dest="action", required=True)
    ca = kinds.add_parser("ca", help="create the CA (ca.crt, ca.key)")
    server = kinds.add_parser("server", help="a service's certificate (serves and calls)")
    server.add_argument("name", help="file name and CN, e.g. ingest")
    server.add_argument("--host", action="append", default=None,
                        help="DNS name or IP it serves (default: localhost, 127.0.0.1)")
    server.add_argument("--role", action="append", default=[], choices=roles,
                        help="roles when it calls other services (e.g. service)")
    client = kinds.add_parser("client", help="a client certificate (an integrator, a scraper)")
    client.add_argument("name", help="file name and CN")
    client.add_argument("--role", action="append", required=True, choices=roles)
    for p in (ca, server, client):
        p.add_argument("--dir", help="CA directory (default: <VIGIE_DATA_DIR>/tls)")
    for p in (server, client):
        p.add_argument("--days", type=int, default=365, help="validity (default 365)")
    certs.set_defaults(func=cmd_certs)


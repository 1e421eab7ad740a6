"""One authenticator per process, shared by its gRPC interceptor and HTTP middleware.

Credentials, in the order they are looked at:
1. a bearer token (`authorization: Bearer <token>`): this process's internal token, a client
   token of the token store (`vgc_...`), or a token a service resolves itself (the alerts
   console's personal API tokens, `vgt_...`, bound to accounts);
2. a client certificate verified against VIGIE_TLS_CLIENT_CA_FILE (mutual TLS);
3. HTTP only: a session cookie a service resolves (the alerts console's).
A bearer token that is given but unknown is refused even if a certificate would do: a caller
never silently becomes someone else.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import Counter

from vigie_core.auth.model import Identity, Role
from vigie_core.auth.tokens import TokenStore
from vigie_core.settings import CoreSettings

log = logging.getLogger(__name__)

INTERNAL_PREFIX = "vgi_"
MAX_TOKEN_CHARS = 512

REFUSED = Counter("vigie_auth_refused_total",
                  "Calls refused by authentication or authorisation.",
                  ["transport", "reason"])
ACCEPTED = Counter("vigie_auth_accepted_total", "Calls authenticated, by credential kind.",
                   ["transport", "kind"])

TokenResolver = Callable[[str], Awaitable[Identity | None]]


@dataclass(frozen=True)
class SessionResolver:
    """A service's cookie sessions: `resolve(cookie value)` gives the identity with its CSRF
    token, or None. `origins` are the extra origins (public URLs) state changes may come
    from besides the server's own."""

    cookie: str
    resolve: TokenResolver
    origins: Sequence[str] = field(default_factory=tuple)


class Authenticator:
    def __init__(self, core: CoreSettings, store: TokenStore | None = None) -> None:
        self.core = core
        self.store = store if store is not None else TokenStore(core.tokens_file)
        self.internal_token = INTERNAL_PREFIX + secrets.token_urlsafe(32)
        self.internal = Identity(f"internal:{core.instance}", frozenset({Role.SERVICE.value}),
                                 "internal")
        self.token_resolvers: list[tuple[str, TokenResolver]] = []
        self.session_resolvers: list[SessionResolver] = []

    @classmethod
    def closed(cls) -> Authenticator:
        """One that accepts no credential at all (servers started without one)."""
        return cls(CoreSettings(), TokenStore(Path("/nonexistent/vigie/tokens.json")))

    def add_token_resolver(self, prefix: str, resolve: TokenResolver) -> None:
        """Tokens starting with `prefix` are resolved by `resolve` (a service's own)."""
        self.token_resolvers.append((prefix, resolve))

    def add_session_resolver(self, resolver: SessionResolver) -> None:
        self.session_resolvers.append(resolver)

    def internal_metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata of this process's calls to its own gRPC server (role service)."""
        return (("authorization", f"Bearer {self.internal_token}"),)

    async def from_token(self, token: str) -> Identity | None:
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        if hmac.compare_digest(token.encode(), self.internal_token.encode()):
            return self.internal
        if token.startswith(INTERNAL_PREFIX):
            return None
        for prefix, resolve in self.token_resolvers:
            if token.startswith(prefix):
                return await resolve(token)
        entry = self.store.lookup(token)
        return entry.identity() if entry is not None else None

    def status(self) -> dict[str, object]:
        return {"tokens_file": str(self.store.path), "active_client_tokens":
                self.store.active_count(), "tokens_file_error": self.store.error or None,
                "client_certificates": "required on gRPC, verified on HTTP"
                if self.core.mutual_tls else "not asked for",
                "metrics": "public" if self.core.auth_public_metrics else "metrics/admin role",
                "token_resolvers": [p for p, _ in self.token_resolvers],
                "session_cookies": [s.cookie for s in self.session_resolvers]}


def bearer(value: str | None) -> str | None:
    """The token of an `authorization` value, "" when the value is not a bearer token, None
    when there is no value."""
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""

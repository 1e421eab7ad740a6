"""Who is calling and what they may do: roles, identities, access declarations.

Every gRPC method and HTTP route of every service declares who may call it (an `Access`); a
method or route without a declaration is refused. Roles are deployment-wide names:

    operator    watches alerts and snapshots, decides, draws rules (a person)
    supervisor  an operator who may also suspend dispatch, lock evidence, read the audit trail
    auditor     reads the audit trail and the alert history, never images
    admin       manages cameras, accounts, rules and the suspend switch
    watchlist   enrols, erases, lists and searches faces of the watchlist (FaceService)
    integrator  an external system: detection on demand, camera and rule listings
    reporter    a partner application relaying citizen media (IngestService.UploadMedia)
    service     a Vigie process calling another one (the console's zone editor -> RulesService)
    metrics     a scraper of /metrics and /status

A caller is a person (an alerts console account, with a session or a personal API token) or a
machine (a client token from `vigie tokens create`, a client certificate, or the process's own
internal credential). Machines may act for a person: the `x-vigie-operator` metadata then names
the person, and the audit trail keeps both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"
    WATCHLIST = "watchlist"
    INTEGRATOR = "integrator"
    REPORTER = "reporter"
    SERVICE = "service"
    METRICS = "metrics"


ROLES = frozenset(r.value for r in Role)
# Any authenticated caller, whatever its roles (e.g. "who am I", server reflection).
AUTHENTICATED = "*"
KIB = 1024
MIB = 1024 * 1024
OPERATOR_NAME = re.compile(r"^[A-Za-z0-9._@:-]{1,64}$")
OPERATOR_METADATA = ("x-vigie-operator", "vigie-operator")


def roles(*names: str | Role) -> frozenset[str]:
    """A role set, checked against the known roles (AUTHENTICATED allowed)."""
    out = frozenset(str(n) for n in names)
    unknown = out - ROLES - {AUTHENTICATED}
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(sorted(unknown))}: one of "
                         f"{', '.join(sorted(ROLES))}")
    return out


def check_roles(names: Iterable[str]) -> frozenset[str]:
    """Roles a credential may hold (not AUTHENTICATED, at least one)."""
    out = frozenset(names)
    if not out or AUTHENTICATED in out:
        raise ValueError("give at least one role")
    return roles(*out)


@dataclass(frozen=True)
class Identity:
    """An authenticated caller.

    name: the login of a person ("ann"), or "client:<name>" (token store), "cert:<CN>" (client
    certificate), "internal:<instance>" (this process).
    """

    name: str
    roles: frozenset[str]
    kind: str  # account | token | certificate | internal
    credential_id: str = ""  # token id, certificate serial: for audit, never the secret
    csrf: str = ""  # cookie sessions only: the token state changes must repeat
    via_session: bool = False

    @property
    def person(self) -> bool:
        return self.kind == "account"

    def may(self, allowed: frozenset[str]) -> bool:
        return AUTHENTICATED in allowed or bool(self.roles & allowed)


@dataclass(frozen=True)
class Access:
    """Who may call a route or method, and the limits of a request to it.

    roles: any of them is enough (AUTHENTICATED: any caller that authenticated). public: no
    authentication, for endpoints open by nature (health probes, the citizen page); `reason`
    says why, and public routes are rate-limited per client address.
    """

    roles: frozenset[str] = frozenset()
    public: bool = False
    reason: str = ""
    max_body_bytes: int = 64 * KIB
    rate_limited: bool = False
    sessions: bool = True  # HTTP: a console session cookie is accepted (CSRF enforced)

    def __post_init__(self) -> None:
        if self.public == bool(self.roles):
            raise ValueError("an Access is either public (with a reason) or has roles")
        if self.public and not self.reason:
            raise ValueError("say why the endpoint is public")

    def describe(self) -> str:
        if self.public:
            return f"public ({self.reason})"
        return "any authenticated caller" if AUTHENTICATED in self.roles else \
            ", ".join(sorted(self.roles))


def allow(*names: str | Role, max_body_bytes: int = 64 * KIB) -> Access:
    return Access(roles=roles(*names), max_body_bytes=max_body_bytes)


def public(reason: str, *, max_body_bytes: int = 64 * KIB, rate_limited: bool = True) -> Access:
    return Access(public=True, reason=reason, max_body_bytes=max_body_bytes,
                  rate_limited=rate_limited)


@dataclass(frozen=True)
class Actor:
    """Who an action is recorded under: the person, and the machine that relayed it."""

    name: str
    via: str = ""
    identity: Identity | None = field(default=None, compare=False)

    def details(self) -> dict[str, str]:
        return {"via": self.via} if self.via else {}


def actor_of(identity: Identity | None, declared: str) -> Actor | None:
    """The person an action is for. A person acts for themselves (`declared` must be empty or
    theirs: None otherwise); a machine may name the person it acts for (`declared`, validated),
    else acts under its own name."""
    if identity is None:
        return Actor(declared) if declared else None
    if identity.person:
        return Actor(identity.name, identity=identity) \
            if declared in ("", identity.name) else None
    if declared:
        if not OPERATOR_NAME.match(declared):
            return None
        return Actor(declared, via=identity.name, identity=identity)
    return Actor(identity.name, identity=identity)

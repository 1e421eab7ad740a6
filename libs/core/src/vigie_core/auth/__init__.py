"""Authentication and authorisation of every gRPC method and HTTP route (see model.py)."""

from vigie_core.auth.authenticator import Authenticator, SessionResolver
from vigie_core.auth.model import (
    AUTHENTICATED,
    ROLES,
    Access,
    Actor,
    Identity,
    Role,
    actor_of,
    allow,
    public,
    roles,
)
from vigie_core.auth.tokens import TokenEntry, TokenStore

__all__ = ["AUTHENTICATED", "ROLES", "Access", "Actor", "Authenticator", "Identity", "Role",
           "SessionResolver", "TokenEntry", "TokenStore", "actor_of", "allow", "public",
           "roles"]

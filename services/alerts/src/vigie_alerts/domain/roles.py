"""Who may do what in the console and over gRPC. Checked on every route and RPC.

    operator    watches the live feed and snapshots, decides on alerts, draws rules
    supervisor  an operator who may also suspend dispatch and lock evidence
    auditor     reads the audit trail and the alert history, never snapshots or live faces
    admin       manages accounts, the suspend switch and evidence locks; does not decide alerts
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    VIEW_FEED = "view_feed"  # live feed, alert detail, cameras and map
    VIEW_SNAPSHOT = "view_snapshot"  # snapshot images and camera frames (faces blurred)
    VIEW_HISTORY = "view_history"  # alert history search, without images
    DECIDE = "decide"  # acknowledge, confirm, dismiss
    EDIT_RULES = "edit_rules"  # zone/line editor
    VIEW_AUDIT = "view_audit"  # audit records and chain verification
    SUSPEND_DISPATCH = "suspend_dispatch"
    LOCK_EVIDENCE = "lock_evidence"
    MANAGE_USERS = "manage_users"


_OPERATOR = frozenset({Permission.VIEW_FEED, Permission.VIEW_SNAPSHOT, Permission.VIEW_HISTORY,
                       Permission.DECIDE, Permission.EDIT_RULES})
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: _OPERATOR,
    Role.SUPERVISOR: _OPERATOR | {Permission.VIEW_AUDIT, Permission.SUSPEND_DISPATCH,
                                  Permission.LOCK_EVIDENCE},
    Role.AUDITOR: frozenset({Permission.VIEW_HISTORY, Permission.VIEW_AUDIT}),
    Role.ADMIN: frozenset({Permission.VIEW_FEED, Permission.VIEW_HISTORY, Permission.VIEW_AUDIT,
                           Permission.SUSPEND_DISPATCH, Permission.LOCK_EVIDENCE,
                           Permission.MANAGE_USERS}),
}


def parse_role(value: str) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


def allowed(role: str | Role | None, permission: Permission) -> bool:
    """True when `role` (a Role or its name; unknown names have no rights) has `permission`."""
    parsed = role if isinstance(role, Role) else parse_role(role or "")
    return parsed is not None and permission in PERMISSIONS[parsed]


def permissions(role: str | Role | None) -> list[str]:
    parsed = role if isinstance(role, Role) else parse_role(role or "")
    return sorted(PERMISSIONS[parsed]) if parsed is not None else []


def roles_with(permission: Permission) -> frozenset[str]:
    """The roles holding `permission` (what a route or RPC needing it declares)."""
    return frozenset(r.value for r, granted in PERMISSIONS.items() if permission in granted)

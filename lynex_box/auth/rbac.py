"""Roles and what each may do: the permission table of docs/security.md, as data.

Pure code, no I/O. A user's role on a project is its per-project role when one is set, else its org
role; an org owner is owner of every project of the org. An API key acts on its own project only,
with the actions of its scope. Nothing here decides which project a request touches: that comes
from the authenticated key or the path, checked against the caller's memberships by the API layer.
"""

from __future__ import annotations

from typing import Final

ROLES: Final = ("owner", "admin", "member", "viewer")
RANK: Final = {"viewer": 1, "member": 2, "admin": 3, "owner": 4}

# action -> the lowest role allowed to do it (on a project, or on an org for `org.*` actions)
PROJECT_ACTIONS: Final = {
    "data.read": "viewer",
    "usage.read": "viewer",
    "settings.read": "viewer",
    "members.read": "viewer",
    "alerts.read": "viewer",
    "data.annotate": "member",
    "keys.read": "admin",
    "keys.manage": "admin",
    "members.manage": "admin",
    "settings.manage": "admin",
    "alerts.manage": "admin",
    "audit.read": "admin",
}
ORG_ACTIONS: Final = {
    "org.read": "viewer",
    "org.members.read": "viewer",
    "org.members.manage": "admin",
    "org.invite": "admin",
    "org.audit.read": "admin",
    "org.projects.create": "admin",
    "org.password_reset": "admin",
    "org.scim.manage": "owner",
}
ACTIONS: Final = {**PROJECT_ACTIONS, **ORG_ACTIONS}

# What an API key may do on its project, by scope. Keys never manage people: that needs a user.
KEY_SCOPE_ACTIONS: Final = {
    "ingest": frozenset({"data.ingest"}),
    "read": frozenset({"data.read", "usage.read", "settings.read", "alerts.read"}),
    "admin": frozenset(
        {
            "data.ingest",
            "data.read",
            "usage.read",
            "settings.read",
            "members.read",
            "settings.manage",
            "alerts.read",
            "alerts.manage",
            "keys.read",
            "keys.manage",
            "audit.read",
        }
    ),
}


class UnknownAction(KeyError):
    """A programming error: an action missing from the permission table."""


def role_allows(role: str | None, action: str) -> bool:
    """True when `role` (None = no role at all) may do `action`. Users never ingest: that takes an API key."""
    if action == "data.ingest":
        return False
    if action not in ACTIONS:
        raise UnknownAction(action)
    if role is None:
        return False
    return RANK[role] >= RANK[ACTIONS[action]]


def scope_allows(scope: str, action: str) -> bool:
    if action not in ACTIONS and action != "data.ingest":
        raise UnknownAction(action)
    return action in KEY_SCOPE_ACTIONS.get(scope, frozenset())


def effective_role(org_role: str | None, project_role: str | None) -> str | None:
    """A user's role on a project from its org role and its per-project role (either may be None)."""
    if org_role == "owner":
        return "owner"
    return project_role if project_role is not None else org_role


def can_assign(actor_role: str | None, current: str | None, new: str | None) -> bool:
    """May an actor with `actor_role` change someone's role from `current` to `new` (None = no role)?

    Admins manage members up to their own rank; only owners grant, change or take away `owner`.
    """
    if actor_role is None or RANK[actor_role] < RANK["admin"]:
        return False
    top = RANK[actor_role]
    return all(r is None or RANK[r] <= top for r in (current, new))


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {list(ROLES)}")
    return role

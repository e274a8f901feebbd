"""Errors of account operations, each mapped to one HTTP status by the API layer."""

from __future__ import annotations

from lynex_box.auth.admin import AdminError


class Denied(PermissionError):
    """The caller's role does not allow this (403)."""


class NotFound(LookupError):
    """No such user, member, project, key or invitation visible to the caller (404)."""


class Conflict(ValueError):
    """The change clashes with the current state, e.g. a member that already exists (409)."""


__all__ = ["AdminError", "Conflict", "Denied", "NotFound"]

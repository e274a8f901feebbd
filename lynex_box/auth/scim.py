"""SCIM 2.0 protocol pieces (RFC 7643/7644), pure: resource shapes, the filters we answer, PATCH operations.

We support what enterprise IdPs (Okta, Entra ID, OneLogin) send: `eq` filters on `userName`, `externalId`,
`emails.value` and `displayName`; PATCH `add`/`replace`/`remove` on a user's `active`, names, emails and
external id, and on a group's `displayName` and `members` (including `members[value eq "id"]`).
Anything else is refused with the SCIM error type that names it, never guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

USER_SCHEMA: Final = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA: Final = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA: Final = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA: Final = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_SCHEMA: Final = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MEDIA_TYPE: Final = "application/scim+json"

_FILTER = re.compile(r'^\s*([A-Za-z.]+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
_MEMBER_PATH = re.compile(r'^members\[\s*value\s+eq\s+"([^"]+)"\s*\]$', re.IGNORECASE)
FILTER_ATTRS: Final = {
    "username": "userName",
    "externalid": "externalId",
    "emails.value": "emails.value",
    "displayname": "displayName",
    "id": "id",
}


class ScimError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            out["scimType"] = self.scim_type
        return out


def parse_filter(text: str | None) -> tuple[str, str] | None:
    """(attribute, value) of an `attr eq "value"` filter; None without a filter."""
    if not text:
        return None
    match = _FILTER.match(text)
    if not match or match.group(1).lower() not in FILTER_ATTRS:
        raise ScimError(
            400,
            'only filters of the form attribute eq "value" on userName, externalId, '
            "emails.value, displayName or id are supported",
            "invalidFilter",
        )
    return FILTER_ATTRS[match.group(1).lower()], match.group(2).replace('\\"', '"').replace("\\\\", "\\")


def page(params: dict[str, str], max_results: int) -> tuple[int, int]:
    """(startIndex >= 1, count) from the query."""
    try:
        start = max(1, int(params.get("startIndex") or 1))
        count = int(params.get("count") or max_results)
    except ValueError:
        raise ScimError(400, "startIndex and count must be whole numbers", "invalidValue") from None
    return start, max(0, min(count, max_results))


def list_response(resources: list[dict[str, Any]], total: int, start: int) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


@dataclass(slots=True)
class UserFields:
    """What a SCIM client may set on a user; None = leave unchanged."""

    email: str | None = None
    name: str | None = None
    external_id: str | None = None
    active: bool | None = None


def _email_of(doc: dict[str, Any]) -> str | None:
    emails = doc.get("emails")
    if isinstance(emails, list):
        ranked = sorted(
            (e for e in emails if isinstance(e, dict) and isinstance(e.get("value"), str)),
            key=lambda e: not e.get("primary"),
        )
        if ranked:
            return str(ranked[0]["value"])
    return None


def _name_of(doc: dict[str, Any]) -> str | None:
    if isinstance(doc.get("displayName"), str):
        return str(doc["displayName"])
    name = doc.get("name")
    if isinstance(name, dict):
        if isinstance(name.get("formatted"), str):
            return str(name["formatted"])
        parts = [name.get("givenName"), name.get("familyName")]
        if any(isinstance(p, str) for p in parts):
            return " ".join(p for p in parts if isinstance(p, str))
    return None


def user_fields(doc: dict[str, Any]) -> UserFields:
    """The fields of a full User resource (POST, PUT)."""
    user_name = doc.get("userName")
    email = user_name if isinstance(user_name, str) and "@" in user_name else _email_of(doc)
    if not isinstance(email, str):
        raise ScimError(400, "userName (an email address) or emails is required", "invalidValue")
    active = doc.get("active", True)
    if not isinstance(active, bool):
        raise ScimError(400, "active must be true or false", "invalidValue")
    external = doc.get("externalId")
    return UserFields(email, _name_of(doc) or "", external if isinstance(external, str) else None, active)


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    ops = doc.get("Operations")
    if not isinstance(ops, list) or not all(isinstance(o, dict) for o in ops):
        raise ScimError(400, "a PATCH body needs an Operations list", "invalidSyntax")
    return ops


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):  # Entra ID sends "False"
        return value.lower() == "true"
    raise ScimError(400, "active must be true or false", "invalidValue")


def user_patch(doc: dict[str, Any]) -> UserFields:
    """The changes a PatchOp makes to a user."""
    out = UserFields()
    for op in _operations(doc):
        kind = str(op.get("op", "")).lower()
        if kind not in ("add", "replace"):
            raise ScimError(400, f"op {kind!r} is not supported on users", "invalidSyntax")
        path, value = op.get("path"), op.get("value")
        changes = {path: value} if isinstance(path, str) else value if isinstance(value, dict) else None
        if changes is None:
            raise ScimError(400, "each operation needs a path or an object value", "invalidSyntax")
        for key, val in changes.items():
            lowered = str(key).lower()
            if lowered == "active":
                out.active = _bool(val)
            elif lowered in ("username", 'emails[type eq "work"].value') and isinstance(val, str):
                out.email = val
            elif lowered == "emails" and isinstance(val, list):
                out.email = _email_of({"emails": val}) or out.email
            elif lowered in ("displayname", "name.formatted") and isinstance(val, str):
                out.name = val
            elif lowered == "name" and isinstance(val, dict):
                out.name = _name_of({"name": val}) or out.name
            elif lowered == "externalid" and isinstance(val, str):
                out.external_id = val
            elif lowered.startswith(("name.", "title", "locale", "timezone", "preferredlanguage", "urn:")):
                continue  # attributes we do not keep
            else:
                raise ScimError(400, f"attribute {key!r} cannot be changed here", "invalidPath")
    return out


@dataclass(slots=True)
class GroupPatch:
    display_name: str | None = None
    add: list[str] | None = None
    remove: list[str] | None = None
    replace_members: list[str] | None = None
    remove_all: bool = False


def member_ids(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ScimError(400, "members must be a list of {value: id}", "invalidValue")
    return [str(m["value"]) for m in value if isinstance(m, dict) and isinstance(m.get("value"), str)]


def group_patch(doc: dict[str, Any]) -> GroupPatch:
    out = GroupPatch(add=[], remove=[])
    assert out.add is not None and out.remove is not None
    for op in _operations(doc):
        kind, path, value = str(op.get("op", "")).lower(), op.get("path"), op.get("value")
        lowered = path.lower() if isinstance(path, str) else None
        member = _MEMBER_PATH.match(path) if isinstance(path, str) else None
        if kind == "remove" and member:
            out.remove.append(member.group(1))
        elif kind == "remove" and lowered == "members" and value is None:
            out.remove_all = True
        elif kind == "remove" and lowered == "members":
            out.remove.extend(member_ids(value))
        elif kind == "add" and lowered == "members":
            out.add.extend(member_ids(value))
        elif kind == "replace" and lowered == "members":
            out.replace_members = member_ids(value)
        elif kind in ("add", "replace") and lowered == "displayname" and isinstance(value, str):
            out.display_name = value
        elif kind in ("add", "replace") and lowered is None and isinstance(value, dict):
            if isinstance(value.get("displayName"), str):
                out.display_name = value["displayName"]
            if "members" in value:
                out.replace_members = member_ids(value["members"])
        elif kind in ("add", "replace") and lowered in ("externalid", "id"):
            continue
        else:
            raise ScimError(400, f"operation {kind!r} on {path!r} is not supported on groups", "invalidPath")
    return out

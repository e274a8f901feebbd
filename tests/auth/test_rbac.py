"""The permission table in docs/security.md is the one the code enforces, and role changes stay bounded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lynex_box.auth import rbac

SECURITY_MD = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def documented_table() -> dict[str, dict[str, bool]]:
    """role -> action -> allowed, parsed from the `| role | ... |` table of docs/security.md."""
    lines = [line.strip() for line in SECURITY_MD.read_text().splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("| role |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")][1:]
    table = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert all(c in ("✓", "—") for c in cells[1:]), line
        table[cells[0]] = {a: c == "✓" for a, c in zip(header, cells[1:], strict=True)}
    return table


def documented_scopes() -> dict[str, set[str]]:
    """scope -> the actions an API key of that scope may do, parsed from the `| scope | ... |` table of
    docs/security.md (a parenthesis only names the endpoints of the action before it)."""
    lines = [line.strip() for line in SECURITY_MD.read_text().splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("| scope |"))
    table = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        scope, cell = (c.strip() for c in line.strip("|").split("|"))
        table[scope] = {a.strip() for a in re.sub(r"\([^)]*\)", "", cell).split(",")}
    return table


def test_docs_scope_table_matches_the_code() -> None:
    table = documented_scopes()
    assert set(table) == set(rbac.KEY_SCOPE_ACTIONS)
    for scope, actions in table.items():
        assert actions <= set(rbac.ACTIONS) | {"data.ingest"}, (scope, actions)
        assert actions == rbac.KEY_SCOPE_ACTIONS[scope], scope


def test_docs_permission_table_matches_the_code() -> None:
    table = documented_table()
    assert set(table) == set(rbac.ROLES)
    for role, row in table.items():
        assert set(row) == set(rbac.ACTIONS), "the table must have a column for every action"
        for action, allowed in row.items():
            assert rbac.role_allows(role, action) is allowed, (role, action)


def test_no_role_allows_nothing_and_unknown_actions_are_errors() -> None:
    assert not any(rbac.role_allows(None, a) for a in rbac.ACTIONS)
    assert not any(rbac.role_allows(r, "data.ingest") for r in rbac.ROLES)  # ingest takes an API key
    with pytest.raises(rbac.UnknownAction):
        rbac.role_allows("owner", "data.destroy_everything")


def test_effective_role_prefers_the_project_role_except_for_org_owners() -> None:
    assert rbac.effective_role("viewer", "admin") == "admin"
    assert rbac.effective_role("admin", "viewer") == "viewer"
    assert rbac.effective_role("member", None) == "member"
    assert rbac.effective_role(None, "member") == "member"
    assert rbac.effective_role(None, None) is None
    assert rbac.effective_role("owner", "viewer") == "owner"


@pytest.mark.parametrize(
    ("actor", "current", "new", "allowed"),
    [
        ("owner", "owner", "viewer", True),
        ("owner", None, "owner", True),
        ("admin", None, "admin", True),
        ("admin", "member", "viewer", True),
        ("admin", None, "owner", False),
        ("admin", "owner", "viewer", False),
        ("admin", "owner", None, False),
        ("member", None, "viewer", False),
        ("viewer", "viewer", None, False),
        (None, None, "viewer", False),
    ],
)
def test_admins_manage_up_to_their_rank_and_only_owners_touch_owners(
    actor: str | None, current: str | None, new: str | None, allowed: bool
) -> None:
    assert rbac.can_assign(actor, current, new) is allowed


def test_key_scopes() -> None:
    assert rbac.scope_allows("ingest", "data.ingest") and not rbac.scope_allows("ingest", "data.read")
    assert rbac.scope_allows("read", "data.read") and not rbac.scope_allows("read", "keys.manage")
    assert rbac.scope_allows("admin", "keys.manage")
    assert not any(rbac.scope_allows(s, "members.manage") for s in rbac.KEY_SCOPE_ACTIONS)
    assert not any(rbac.scope_allows(s, a) for s in rbac.KEY_SCOPE_ACTIONS for a in rbac.ORG_ACTIONS)

"""Which organisations an account belongs to: the one rule every cross-org protection shares.

An org admin is an attacker to every other org (docs/security.md, threat model). So whatever lets an org act on
an account itself, not only on its membership — issue a password reset, rename it through SCIM, read its
sign-ins in the audit log — is allowed only for an account that belongs to that org alone: no role in another
org, no role on another org's project, not managed by another org's SCIM. Pure SQL over meta.db, no writes.
It lives in meta/ beside the audit log, whose org view applies the same rule; auth/ imports it from here.
"""

from __future__ import annotations

from typing import Final

import apsw

# Rows that tie user ?1 to an organisation other than ?2. Used as `EXISTS (...)`.
OTHER_ORG_TIES_SQL: Final = (
    "SELECT 1 FROM org_members WHERE user_id = ?1 AND org_id != ?2 "
    "UNION ALL SELECT 1 FROM project_members pm JOIN projects p ON p.id = pm.project_id "
    "WHERE pm.user_id = ?1 AND p.org_id != ?2 "
    "UNION ALL SELECT 1 FROM scim_users WHERE user_id = ?1 AND org_id != ?2"
)

# The members of org ?1 that belong to it alone, as a subquery selecting user ids.
SOLE_MEMBERS_SQL: Final = (
    "SELECT m.user_id FROM org_members m WHERE m.org_id = ?1 "
    "AND NOT EXISTS (SELECT 1 FROM org_members o WHERE o.user_id = m.user_id AND o.org_id != ?1) "
    "AND NOT EXISTS (SELECT 1 FROM project_members pm JOIN projects p ON p.id = pm.project_id "
    "WHERE pm.user_id = m.user_id AND p.org_id != ?1) "
    "AND NOT EXISTS (SELECT 1 FROM scim_users s WHERE s.user_id = m.user_id AND s.org_id != ?1)"
)


def belongs_elsewhere(conn: apsw.Connection, user_id: str, org_id: str) -> bool:
    """True when the account has any tie to an org other than `org_id`."""
    return bool(next(iter(conn.execute(f"SELECT EXISTS ({OTHER_ORG_TIES_SQL})", (user_id, org_id))))[0])

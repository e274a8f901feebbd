"""The account and project repositories the HTTP layer uses: meta.db behind two small objects, so that a route
module knows what it asks for (a user's orgs, a project's keys) and not where or how it is stored.

`Accounts`: users, orgs, memberships, invitations, SCIM tokens, and the transactions account operations run in
(`write(fn)`: `fn(conn)` of memberships, invitations, resets, orgs, projects, scim_store, sso, with its audit
entry, in one transaction). `Projects`: a project's record, settings, API keys, trusted JWT issuer and custom
prices. Every method
blocks (SQLite, argon2): routes call them in a worker thread. The SQL stays in the modules they delegate to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import apsw

from lynex_box.auth import admin, invitations, jwt_trust, memberships, orgs, projects, scim_store, users
from lynex_box.auth.components import AuthComponents
from lynex_box.auth.jwt_trust import Trust
from lynex_box.auth.ratelimit import IngestLimiter
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB
from lynex_box.meta.prices import CustomPrices, delete_price, list_prices, upsert_prices
from lynex_box.plugins.events import NO_EVENTS, Events
from lynex_box.pricing import CustomPrice

T = TypeVar("T")


class Accounts:
    """Users, orgs, memberships, invitations and SCIM tokens in meta.db."""

    def __init__(self, db: MetaDB) -> None:
        self._db = db

    def write(self, fn: Callable[[apsw.Connection], T]) -> T:
        """`fn(conn)` in one write transaction (on meta.db's writer thread); its result."""
        return self._db.write(fn)

    def read(self, fn: Callable[[apsw.Connection], T]) -> T:
        """`fn(conn)` on a read connection of this thread; its result."""
        return fn(self._db.reader())

    def user_by_email(self, email: str) -> users.User | None:
        return users.find_by_email(self._db, email)

    def verify_login(self, email: str, password: str) -> users.User | None:
        """The user when the password is theirs (argon2: slow on purpose); None otherwise."""
        return users.verify_login(self._db, email, password)

    def org_role(self, user_id: str, org_id: str) -> str | None:
        return memberships.org_role(self._db, user_id, org_id)

    def project_role(self, user_id: str, project_id: str) -> tuple[str, str | None] | None:
        """(org_id, the user's effective role or None) for an existing project; None if there is no such project."""
        return memberships.project_role(self._db, user_id, project_id)

    def user_orgs(self, user_id: str) -> list[dict[str, Any]]:
        return memberships.user_orgs(self._db, user_id)

    def user_projects(self, user_id: str) -> list[dict[str, Any]]:
        return memberships.user_projects(self._db, user_id)

    def org_name(self, org_id: str) -> str:
        return orgs.name_of(self._db, org_id)

    def org_members(self, org_id: str) -> list[dict[str, Any]]:
        return memberships.list_org_members(self._db, org_id)

    def project_members(self, project_id: str, org_id: str) -> list[dict[str, Any]]:
        return memberships.list_project_members(self._db, project_id, org_id)

    def pending_invitations(self, org_id: str) -> list[dict[str, Any]]:
        return invitations.list_pending(self._db, org_id)

    def invitation(self, token: str) -> dict[str, Any] | None:
        """The pending invitation a token stands for; None when unknown, used, revoked or expired."""
        return invitations.lookup(self._db, token)

    def scim_org(self, token: str) -> str | None:
        """The org a SCIM token belongs to; None for any other token."""
        return scim_store.org_for_token(self._db, token)


class Projects:
    """A project's record, settings, API keys, trusted JWT issuer and custom prices in meta.db. `events` receives
    `key_created` and `key_revoked` once the change is committed (lynex_box/plugins/)."""

    def __init__(self, db: MetaDB, events: Events = NO_EVENTS) -> None:
        self._db = db
        self._events = events

    def get(self, project_id: str) -> dict[str, Any] | None:
        """`{project_id, name, org_id}`; None when there is no such project."""
        return projects.find(self._db, project_id)

    def with_org(self, project_id: str) -> dict[str, Any] | None:
        """`{project_id, name, org_id, org_name}`; None when there is no such project."""
        return projects.with_org(self._db, project_id)

    def settings(self, project_id: str, limiter: IngestLimiter) -> dict[str, Any]:
        """The stored settings and the ingest limits in force; NotFound when there is no such project."""
        return projects.read(self._db, project_id, limiter)

    def refresh_auth(self, auth: AuthComponents) -> None:
        """Reload what authentication's hot paths cache from meta.db (after a change of a project's limits)."""
        auth.refresh(self._db)

    def keys(self, project_id: str) -> list[dict[str, Any]]:
        """The project's API keys, without secrets."""
        return admin.list_keys(self._db, project_id)

    def create_key(
        self, project_id: str, scope: str, name: str, expires_at: int | None, actor: Actor
    ) -> admin.CreatedKey:
        """A new key (its secret is in the result only), audited; AdminError for a bad scope or project."""
        key = admin.create_key(self._db, project_id, scope, name, expires_at, actor)
        self._events.emit("key_created", {
            "project_id": project_id, "key_id": key.key_id, "prefix": key.prefix, "scope": key.scope, "name": name,
            "expires_at": expires_at, "actor": _actor(actor),
        })  # fmt: skip
        return key

    def revoke_key(self, key_id: str, project_id: str, actor: Actor) -> bool:
        """True when an active key of the project was revoked (audited)."""
        done = admin.revoke_key(self._db, key_id, project_id, actor)
        if done:
            self._events.emit("key_revoked", {"project_id": project_id, "key_id": key_id, "actor": _actor(actor)})
        return done

    def jwt_trust(self, project_id: str) -> Trust | None:
        """The JWT issuer the project trusts for ingest, if any."""
        return jwt_trust.get(self._db, project_id)

    def set_jwt_trust(self, trust: Trust, actor: Actor) -> Trust:
        """Trust `trust`'s issuer in place of the project's former one (audited); the stored record."""
        return jwt_trust.put(self._db, trust, actor)

    def delete_jwt_trust(self, project_id: str, actor: Actor) -> bool:
        """Trust no JWT issuer any more (audited); False when the project trusted none."""
        return jwt_trust.delete(self._db, project_id, actor)

    def custom_prices(self, project_id: str) -> CustomPrices:
        """The project's custom prices, as `PriceBook` takes them (project -> prices)."""
        return list_prices(self._db, project_id)

    def set_prices(self, project_id: str, prices: list[CustomPrice]) -> None:
        upsert_prices(self._db, project_id, prices)

    def delete_price(self, project_id: str, model: str, provider: str | None) -> bool:
        """True when the price was there."""
        return delete_price(self._db, project_id, model, provider)


def _actor(actor: Actor) -> dict[str, str]:
    """Who acted, as a topic event names them (no secret)."""
    return {"type": actor.type, "id": actor.id}

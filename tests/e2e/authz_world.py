"""The tenants the authorisation matrix runs against, built through the public API of a real server.

Org A holds the target project P and a sibling project; org B, another tenant, holds a project of its own.
Each principal of tests/e2e/authz_table.py gets its credentials here: API keys of each scope on P, on the
sibling and on B's project; a signed-in user of each role in A and in B; a user with a role on P only;
each org's SCIM token. Sessions travel as explicit `Cookie` and `X-CSRF-Token` headers, and the shared
client's cookie jar is emptied after every call, so a login or logout in one cell never changes who
calls in the next. Pools hand out a fresh target (key, invitation, rule, member...) after an allowed
call used the previous one up, so every cell finds its ids valid.
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable
from typing import Any

import apsw
import httpx

from tests.e2e.accounts import PASSWORD
from tests.e2e.authz_table import PRICE, PROBE_MONITOR, PROBE_RULE, Row, Who
from tests.e2e.server import RunningServer

SPAN = {
    "trace_id": "matrix-trace",
    "span_id": "matrix-span",
    "name": "matrix",
    "session_id": "matrix-session",
    "user_id": "matrix-user",
}


class World:
    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=60)
        self.password = PASSWORD
        self._counter = itertools.count()
        self.calls = 0  # requests sent, for a failure's message
        self.headers: dict[str, dict[str, str]] = {}  # principal name -> its credential headers
        self.keys: dict[str, tuple[str, str]] = {}  # key principal name -> (project id, key)
        self.pools: dict[str, Callable[[], str]] = {
            "key": self._new_key,
            "invitation": self._new_invitation,
            "rule": self._new_rule,
            "monitor": self._new_monitor,
            "member": self._new_member,
            "scim_user": lambda: self._new_scim_user()[0],
            "scim_group": lambda: self._new_scim_group()[0],
        }
        self.current: dict[str, str] = {}
        self.trace, self.span = SPAN["trace_id"], SPAN["span_id"]
        self.doomed_trace, self.doomed_session, self.doomed_user = "doomed-trace", "doomed-session", "doomed-user"
        self.probe_view_id = "view_matrix"  # a saved view id nobody has: views are per user (OwnSavedView)
        self.prompt_body = {"name": "matrix-prompt", "template": "Hello {{name}}"}
        self.name = self.prompt_body["name"]
        self.scim_a: str | None = None
        # set by build(): the tenants' ids, the targets of the member rows, the SCIM resources of A
        self.project = self.org = self.sibling = self.org_b = self.project_b = ""
        self.t_org = self.t_org_email = self.login_email = self.t_proj = self.rule = self.lookup_token = ""
        self.monitor = ""
        self.scim_user = self.scim_user_email = self.scim_group = self.scim_group_name = ""

    # --- plumbing --------------------------------------------------------------------------------------

    def call(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
        self.calls += 1
        try:
            return self.http.request(method, path, headers=headers, **kw)
        except httpx.TransportError as exc:  # no answer at all: say what became of the server
            time.sleep(0.5)  # a dying process's exit status and last log lines
            raise AssertionError(
                f"{method} {path} (call {self.calls}) got no answer: {exc!r}; {self.server.describe()}"
            ) from exc
        finally:
            self.http.cookies.clear()

    def as_owner(self, method: str, path: str, expect: tuple[int, ...] = (200, 201, 202, 204), **kw: Any) -> Any:
        r = self.call(method, path, self.headers["A owner"], **kw)
        assert r.status_code in expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content and r.headers.get("content-type", "").endswith("json") else None

    def unique_email(self) -> str:
        return f"matrix-{next(self._counter)}@a.test"

    def unique_name(self) -> str:
        return f"matrix-{next(self._counter)}"

    def value(self, name: str) -> str:
        """A path id: a World attribute, or `pool:NAME`'s current entry (made when needed)."""
        if not name.startswith("pool:"):
            return str(getattr(self, name))
        pool = name.removeprefix("pool:")
        if pool not in self.current:
            self.current[pool] = self.pools[pool]()
        return self.current[pool]

    def used_up(self, pool: str) -> None:
        self.current.pop(pool, None)

    def request_headers(self, who: Who, row: Row) -> dict[str, str]:
        if who.kind == "key" and row.basic:
            project, key = self.keys[who.name]
            return {"Authorization": "Basic " + base64.b64encode(f"{project}:{key}".encode()).decode()}
        return self.headers[who.name]

    # --- accounts --------------------------------------------------------------------------------------

    def _session(self, r: httpx.Response) -> dict[str, str]:
        assert r.status_code in (200, 201), r.text
        return {"Cookie": f"lynex_session={r.cookies['lynex_session']}", "X-CSRF-Token": r.json()["csrf_token"]}

    def login(self, email: str, password: str) -> dict[str, str]:
        return self._session(self.call("POST", "/api/auth/login", {}, json={"email": email, "password": password}))

    def invite(self, inviter: str, org: str, email: str, role: str) -> tuple[str, dict[str, str]]:
        """A new account that joined `org` with `role` by accepting an invitation: (user id, its session)."""
        r = self.call(
            "POST", f"/api/orgs/{org}/invitations", self.headers[inviter], json={"role": role, "email": email}
        )
        assert r.status_code == 201, r.text
        r = self.call("POST", "/api/invitations/accept", {}, json={"token": r.json()["token"], "password": PASSWORD})
        return str(r.json()["user"]["id"]), self._session(r)

    def key(self, inviter: str, project: str, scope: str) -> str:
        r = self.call("POST", f"/api/projects/{project}/keys", self.headers[inviter], json={"scope": scope})
        assert r.status_code == 201, r.text
        return str(r.json()["api_key"])

    def give_project_role_only(self, user_id: str, role: str) -> None:
        """Leave `user_id` with a role on P and none in A. Through the API while it allows a project role for
        an account outside the org; once only org members get project roles (docs/security.md), such accounts
        exist only from earlier versions, so the row is written as one of those left it."""
        self.as_owner("DELETE", f"/api/orgs/{self.org}/members/{user_id}")
        r = self.call(
            "POST",
            f"/api/projects/{self.project}/members",
            self.headers["A owner"],
            json={"user_id": user_id, "role": role},
        )
        if r.status_code == 201:
            return
        assert r.status_code == 404, r.text
        conn = apsw.Connection(str(self.server.data_dir / "meta.db"))
        try:
            conn.setbusytimeout(10_000)
            conn.execute(
                "INSERT INTO project_members (project_id, user_id, role) VALUES (?, ?, ?)",
                (self.project, user_id, role),
            )
        finally:
            conn.close()

    # --- pools: a fresh target after an allowed call used one up --------------------------------------

    def _new_key(self) -> str:
        return str(self.as_owner("POST", f"/api/projects/{self.project}/keys", json={"scope": "read"})["key_id"])

    def _new_invitation(self) -> str:
        return str(self.as_owner("POST", f"/api/orgs/{self.org}/invitations", json={"role": "viewer"})["id"])

    def _new_rule(self) -> str:
        return str(self.as_owner("POST", f"/api/projects/{self.project}/alerts/rules", json=PROBE_RULE)["id"])

    def _new_monitor(self) -> str:
        body = PROBE_MONITOR | {"name": self.unique_name()}
        return str(self.as_owner("POST", f"/api/projects/{self.project}/monitors", json=body)["id"])

    def _new_member(self) -> str:
        return self.invite("A owner", self.org, self.unique_email(), "viewer")[0]

    def _scim(self, method: str, path: str, **kw: Any) -> Any:
        r = self.call(method, f"/scim/v2{path}", {"Authorization": f"Bearer {self.scim_a}"}, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def _new_scim_user(self) -> tuple[str, str]:
        email = self.unique_email()
        return str(self._scim("POST", "/Users", json={"userName": email, "active": True})["id"]), email

    def _new_scim_group(self) -> tuple[str, str]:
        name = self.unique_name()
        return str(self._scim("POST", "/Groups", json={"displayName": name, "members": []})["id"]), name

    # --- hooks around cells ----------------------------------------------------------------------------

    def ensure_project_role(self) -> None:
        """t_proj has a viewer role of its own on P (201, or 409 when it still has it)."""
        body = {"user_id": self.t_proj, "role": "viewer"}
        self.as_owner("POST", f"/api/projects/{self.project}/members", expect=(201, 409), json=body)

    def ensure_price(self) -> None:
        self.as_owner("PUT", f"/v1/projects/{self.project}/prices", json={"prices": [PRICE]})

    def ensure_scim_token(self) -> None:
        if self.scim_a is None:
            self._set_scim_a(self.as_owner("POST", f"/api/orgs/{self.org}/scim-token")["token"])

    def keep_scim_token(self, r: httpx.Response) -> None:
        """An allowed POST replaced A's SCIM token, an allowed DELETE revoked it: A's SCIM caller follows."""
        if r.status_code == 201:
            self._set_scim_a(r.json()["token"])
        elif r.status_code == 204:
            self.scim_a = None
            self.ensure_scim_token()

    def _set_scim_a(self, token: str) -> None:
        self.scim_a = token
        self.headers["SCIM token A"] = {"Authorization": f"Bearer {token}"}

    # --- the tenants -----------------------------------------------------------------------------------

    def build(self) -> World:
        creds = self.server.creds
        self.project = str(creds["project_id"])
        self.headers["A owner"] = self.login(creds["admin_email"], creds["admin_password"])
        self.org = str(self.as_owner("GET", "/api/auth/me")["orgs"][0]["id"])
        self.sibling = str(
            self.as_owner("POST", "/api/projects", json={"name": "sibling", "org_id": self.org})["project_id"]
        )
        self.org_b = str(self.as_owner("POST", "/api/orgs", json={"name": "B corp"})["id"])
        owner_id = str(self.as_owner("GET", "/api/auth/me")["user"]["id"])
        self._users(owner_id)
        self.project_b = str(
            self.call(
                "POST", "/api/projects", self.headers["B owner"], json={"name": "b", "org_id": self.org_b}
            ).json()["project_id"]
        )
        for tenant, project, inviter in (
            ("same", self.project, "A owner"),
            ("sibling", self.sibling, "A owner"),
            ("other_org", self.project_b, "B owner"),
        ):
            for scope in ("ingest", "read", "admin"):
                key = self.key(inviter, project, scope)
                self.keys[f"{tenant} {scope} key"] = (project, key)
                self.headers[f"{tenant} {scope} key"] = {"Authorization": f"Bearer {key}"}
        self.headers["anonymous"] = {}
        self.headers["forged session"] = {"Cookie": "lynex_session=forged", "X-CSRF-Token": "forged"}
        # a session of its own: the logout row ends the owner's before this caller's turn
        session = self.login(creds["admin_email"], creds["admin_password"])
        self.headers["A owner without CSRF token"] = {"Cookie": session["Cookie"]}
        self.headers["forged key"] = {"Authorization": "Bearer lx_forgedforgedforgedforgedforged"}
        self.keys["forged key"] = (self.project, "lx_forgedforgedforgedforgedforged")
        self._set_scim_a(self.as_owner("POST", f"/api/orgs/{self.org}/scim-token")["token"])
        b_token = self.call("POST", f"/api/orgs/{self.org_b}/scim-token", self.headers["B owner"]).json()["token"]
        self.headers["SCIM token B"] = {"Authorization": f"Bearer {b_token}"}
        self._data()
        return self

    def _users(self, owner_id: str) -> None:
        for role in ("admin", "member", "viewer"):
            self.headers[f"A {role}"] = self.invite("A owner", self.org, f"{role}@a.test", role)[1]
        self.t_org_email = self.login_email = "target@a.test"
        self.t_org = self.invite("A owner", self.org, self.t_org_email, "viewer")[0]
        self.t_proj = self.invite("A owner", self.org, "project-target@a.test", "viewer")[0]
        self.ensure_project_role()
        guest, self.headers["project-only admin"] = self.invite("A owner", self.org, "guest@a.test", "viewer")
        self.give_project_role_only(guest, "admin")
        # B's people; then A's owner, who created B, leaves it: B is another tenant
        self.headers["B owner"] = self.invite("A owner", self.org_b, "owner@b.test", "owner")[1]
        for role in ("admin", "member", "viewer"):
            self.headers[f"B {role}"] = self.invite("B owner", self.org_b, f"{role}@b.test", role)[1]
        r = self.call("DELETE", f"/api/orgs/{self.org_b}/members/{owner_id}", self.headers["B owner"])
        assert r.status_code == 204, r.text

    def _data(self) -> None:
        project, key = self.keys["same admin key"]
        r = self.call(
            "POST", f"/v1/projects/{project}/events", {"Authorization": f"Bearer {key}"}, json={"events": [SPAN]}
        )
        assert r.status_code == 202, r.text
        self.as_owner("POST", f"/v1/projects/{self.project}/prompts", json={**self.prompt_body, "version": "1"})
        self.ensure_price()
        self.rule = self._new_rule()
        self.monitor = self._new_monitor()
        self.scim_user, self.scim_user_email = self._new_scim_user()
        self.scim_group, self.scim_group_name = self._new_scim_group()
        invitation = self.as_owner("POST", f"/api/orgs/{self.org}/invitations", json={"role": "viewer"})
        self.lookup_token = invitation["token"]
        self._wait_for_trace()

    def _wait_for_trace(self) -> None:
        for _ in range(200):
            if self.call("GET", f"/v1/projects/{self.project}/traces/{self.trace}", self.headers["A owner"]).is_success:
                return
            time.sleep(0.05)
        raise AssertionError("the probe trace never became visible")

    def close(self) -> None:
        self.http.close()

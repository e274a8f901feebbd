"""SCIM 2.0 provisioning: users created, updated, deactivated and deleted; groups mapped to roles; per-org isolation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.accounts import PASSWORD, Browsers, me
from tests.e2e.server import RunningServer

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Scim:
    server: RunningServer
    web: Browsers
    owner: httpx.Client
    org: str
    token: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}", "Content-Type": "application/scim+json"}
        return self.web.new(base_url=f"{self.server.url}/scim/v2", headers=headers)

    def org_roles(self) -> dict[str, str]:
        items = self.owner.get(f"/api/orgs/{self.org}/members").json()["items"]
        return {m["email"]: m["role"] for m in items}


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scim]:
    env = {"LYNEX_SCIM_GROUP_ROLES": "eng=member,ops=admin", "LYNEX_SCIM_DEFAULT_ROLE": "viewer"}
    server = RunningServer(tmp_path_factory.mktemp("scim") / "data", env=env).start()
    web = Browsers(server)
    owner = web.admin()
    org = me(owner)["orgs"][0]["id"]
    r = owner.post(f"/api/orgs/{org}/scim-token")
    assert r.status_code == 201, r.text
    assert r.json()["base_url"].endswith("/scim/v2")
    yield Scim(server, web, owner, org, r.json()["token"])
    web.close()
    server.stop()


def new_user(c: httpx.Client, email: str, **extra: Any) -> dict[str, Any]:
    body = {
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": "Bob", "familyName": "Builder"},
        "externalId": f"ext-{email}",
        "active": True,
        **extra,
    }
    r = c.post("/Users", json=body)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/scim+json")
    user: dict[str, Any] = r.json()
    return user


def op(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(ops)}


def test_requests_without_the_token_are_refused(s: Scim) -> None:
    bare = s.web.new(base_url=f"{s.server.url}/scim/v2")
    r = bare.get("/Users")
    assert r.status_code == 401 and r.json()["status"] == "401" and "schemas" in r.json()
    assert s.client("lxscim_forged").get("/Users").status_code == 401
    assert s.client().get("/ServiceProviderConfig").json()["patch"]["supported"] is True


def test_a_user_is_created_found_updated_and_gets_the_default_role(s: Scim) -> None:
    c = s.client()
    bob = new_user(c, "bob@corp.io")
    assert bob["userName"] == "bob@corp.io" and bob["displayName"] == "Bob Builder" and bob["active"] is True
    found = c.get("/Users", params={"filter": 'userName eq "BOB@corp.io"'}).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == bob["id"]
    assert c.get("/Users", params={"filter": 'externalId eq "ext-bob@corp.io"'}).json()["totalResults"] == 1
    assert c.get("/Users", params={"filter": 'userName co "bob"'}).status_code == 400
    assert s.org_roles()["bob@corp.io"] == "viewer"
    r = c.patch(f"/Users/{bob['id']}", json=op({"op": "replace", "path": "displayName", "value": "Robert"}))
    assert r.status_code == 200 and r.json()["displayName"] == "Robert"
    put = c.put(
        f"/Users/{bob['id']}", json={"schemas": [USER], "userName": "robert@corp.io", "displayName": "Robert B"}
    )
    assert put.status_code == 200 and put.json()["userName"] == "robert@corp.io"
    assert c.post("/Users", json={"schemas": [USER], "userName": "robert@corp.io"}).status_code == 409


def test_groups_map_to_roles_and_follow_membership_changes(s: Scim) -> None:
    c = s.client()
    carol = new_user(c, "carol@corp.io")
    eng = c.post("/Groups", json={"displayName": "eng", "members": [{"value": carol["id"]}]})
    assert eng.status_code == 201, eng.text
    assert s.org_roles()["carol@corp.io"] == "member"
    ops = c.post("/Groups", json={"displayName": "ops"}).json()
    r = c.patch(f"/Groups/{ops['id']}", json=op({"op": "add", "path": "members", "value": [{"value": carol["id"]}]}))
    assert r.status_code == 200 and [m["value"] for m in r.json()["members"]] == [carol["id"]]
    assert s.org_roles()["carol@corp.io"] == "admin"
    assert c.get(f"/Users/{carol['id']}").json()["groups"][0]["display"] in ("eng", "ops")
    remove = op({"op": "remove", "path": f'members[value eq "{carol["id"]}"]'})
    assert c.patch(f"/Groups/{ops['id']}", json=remove).status_code == 200
    assert s.org_roles()["carol@corp.io"] == "member"
    assert c.delete(f"/Groups/{eng.json()['id']}").status_code == 204
    assert s.org_roles()["carol@corp.io"] == "viewer"
    assert c.get("/Groups", params={"filter": 'displayName eq "ops"'}).json()["totalResults"] == 1
    assert c.post("/Groups", json={"displayName": "ops"}).status_code == 409


def test_deactivation_ends_access_and_reactivation_restores_it(s: Scim) -> None:
    c = s.client()
    dave = new_user(c, "dave@corp.io")
    reset = s.owner.post(f"/api/orgs/{s.org}/members/{dave['id']}/password-reset").json()["reset_token"]
    assert s.web.new().post("/api/auth/password/reset", json={"token": reset, "password": PASSWORD}).is_success
    session = s.web.login("dave@corp.io", PASSWORD)
    r = c.patch(f"/Users/{dave['id']}", json=op({"op": "replace", "value": {"active": False}}))
    assert r.status_code == 200 and r.json()["active"] is False
    assert "dave@corp.io" not in s.org_roles()
    assert session.get("/api/auth/me").status_code == 401
    login = s.web.new().post("/api/auth/login", json={"email": "dave@corp.io", "password": PASSWORD})
    assert login.status_code == 401
    again = c.patch(f"/Users/{dave['id']}", json=op({"op": "replace", "path": "active", "value": "True"}))
    assert again.status_code == 200 and again.json()["active"] is True
    assert s.org_roles()["dave@corp.io"] == "viewer"
    s.web.login("dave@corp.io", PASSWORD)
    assert c.delete(f"/Users/{dave['id']}").status_code == 204
    assert c.get(f"/Users/{dave['id']}").status_code == 404
    assert "dave@corp.io" not in s.org_roles()
    audit = s.owner.get(f"/api/orgs/{s.org}/audit", params={"limit": 500}).json()["items"]
    actions = {e["action"] for e in audit if e["target_id"] == dave["id"]}
    assert {"scim.user_created", "scim.user_deactivated", "member.removed", "member.added"} <= actions
    assert all(e["actor_type"] == "system" for e in audit if e["action"].startswith("scim.user"))


def test_an_orgs_scim_token_sees_and_touches_only_that_org(s: Scim) -> None:
    c = s.client()
    erin = new_user(c, "erin@corp.io")
    group = c.post("/Groups", json={"displayName": "qa"}).json()
    other_org = s.owner.post("/api/orgs", json={"name": "Other"}).json()["id"]
    other = s.client(s.owner.post(f"/api/orgs/{other_org}/scim-token").json()["token"])
    assert other.get("/Users").json()["totalResults"] == 0
    assert other.get(f"/Users/{erin['id']}").status_code == 404
    assert (
        other.patch(f"/Users/{erin['id']}", json=op({"op": "replace", "value": {"active": False}})).status_code == 404
    )
    assert other.delete(f"/Users/{erin['id']}").status_code == 404
    assert other.get(f"/Groups/{group['id']}").status_code == 404
    own = other.post("/Groups", json={"displayName": "qa"}).json()
    bad = other.patch(
        f"/Groups/{own['id']}", json=op({"op": "add", "path": "members", "value": [{"value": erin["id"]}]})
    )
    assert bad.status_code == 400
    assert s.org_roles()["erin@corp.io"] == "viewer"


def test_the_token_is_shown_once_stored_hashed_and_revocable(s: Scim) -> None:
    audit = s.owner.get(f"/api/orgs/{s.org}/audit", params={"limit": 500}).text
    assert s.token not in audit and "scim.token_created" in audit
    stored = b"".join(p.read_bytes() for p in s.server.data_dir.glob("meta.db*"))
    assert s.token.encode() not in stored
    rotated = s.owner.post(f"/api/orgs/{s.org}/scim-token").json()["token"]
    assert s.client().get("/Users").status_code == 401
    assert s.client(rotated).get("/Users").status_code == 200
    assert s.owner.delete(f"/api/orgs/{s.org}/scim-token").status_code == 204
    assert s.client(rotated).get("/Users").status_code == 401
    s.token = s.owner.post(f"/api/orgs/{s.org}/scim-token").json()["token"]

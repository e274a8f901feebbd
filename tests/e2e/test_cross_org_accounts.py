"""Accounts across orgs: an admin of one org is an attacker to every other org (docs/security.md, threat model).

Org O1 is the first org; its member `victim` belongs to O1 alone. Org O2 is owned by `mallory`. Mallory must not
pull the victim into O2 without their consent, reset their password, rename them through O2's SCIM token, read
their sign-ins, nor learn from any answer whether an address has an account elsewhere. The first owner, who
owns both orgs, must be out of O2's reach too.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.accounts import PASSWORD, Browsers, me
from tests.e2e.server import RunningServer

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class World:
    server: RunningServer
    web: Browsers
    owner: httpx.Client
    o1: str
    o2: str
    mallory: httpx.Client
    victim: httpx.Client
    victim_id: str
    scim2: str

    def scim(self, token: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        return self.web.new(base_url=f"{self.server.url}/scim/v2", headers=headers)


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = RunningServer(tmp_path_factory.mktemp("crossorg") / "data").start()
    web = Browsers(server)
    owner = web.admin()
    o1 = me(owner)["orgs"][0]["id"]
    o2 = owner.post("/api/orgs", json={"name": "Mallory corp"}).json()["id"]
    mallory, _ = web.invite(owner, o2, "mallory@o2.example", "owner")
    victim, victim_id = web.invite(owner, o1, "victim@o1.example", "member")
    scim2 = mallory.post(f"/api/orgs/{o2}/scim-token").json()["token"]
    yield World(server, web, owner, o1, o2, mallory, victim, victim_id, scim2)
    web.close()
    server.stop()


def _members(client: httpx.Client, org: str) -> dict[str, str]:
    return {m["email"]: m["role"] for m in client.get(f"/api/orgs/{org}/members").json()["items"]}


def test_adding_an_account_of_another_org_only_invites_it_and_answers_like_an_unknown_address(w: World) -> None:
    victim = w.mallory.post(f"/api/orgs/{w.o2}/members", json={"email": "victim@o1.example", "role": "viewer"})
    nobody = w.mallory.post(f"/api/orgs/{w.o2}/members", json={"email": "nobody@o1.example", "role": "viewer"})
    assert victim.status_code == nobody.status_code == 202, (victim.text, nobody.text)
    assert set(victim.json()) == set(nobody.json())
    assert "user_id" not in victim.json()
    assert victim.json()["email"] == "victim@o1.example" and victim.json()["token"].startswith("lxi_")
    assert "victim@o1.example" not in _members(w.mallory, w.o2)
    assert [o["id"] for o in me(w.victim)["orgs"]] == [w.o1]
    by_id = w.mallory.post(f"/api/orgs/{w.o2}/members", json={"user_id": w.victim_id, "role": "viewer"})
    assert by_id.status_code == 400
    # the invitation names the victim's address: nobody else can redeem it, nor create a second account with it
    token = victim.json()["token"]
    assert w.mallory.post("/api/invitations/accept", json={"token": token}).status_code == 403
    anon = httpx.post(f"{w.server.url}/api/invitations/accept", json={"token": token, "password": PASSWORD})
    assert anon.status_code == 409
    # the mallory's org never sees the victim: a reset for them is a 404 like any stranger's
    r = w.mallory.post(f"/api/orgs/{w.o2}/members/{w.victim_id}/password-reset")
    assert r.status_code == 404
    # an existing member of O2 gets a 409, which tells only what O2's members list already shows
    again = w.mallory.post(f"/api/orgs/{w.o2}/members", json={"email": "mallory@o2.example", "role": "viewer"})
    assert again.status_code == 409


def test_a_project_role_is_not_given_directly_to_an_account_of_another_org(w: World) -> None:
    project = w.mallory.post("/api/projects", json={"name": "bait", "org_id": w.o2}).json()["project_id"]
    url = f"/api/projects/{project}/members"
    by_email = w.mallory.post(url, json={"email": "victim@o1.example", "role": "viewer"})
    unknown = w.mallory.post(url, json={"email": "nobody@o1.example", "role": "viewer"})
    by_id = w.mallory.post(url, json={"user_id": w.victim_id, "role": "viewer"})
    bad_id = w.mallory.post(url, json={"user_id": "user_nope", "role": "viewer"})
    assert by_email.status_code == unknown.status_code == by_id.status_code == bad_id.status_code == 404
    assert by_email.json() == unknown.json() == by_id.json() == bad_id.json()
    assert project not in [p["project_id"] for p in me(w.victim)["projects"]]


def test_an_org_cannot_reset_the_password_of_an_account_that_also_belongs_to_another_org(w: World) -> None:
    """The first owner owns O1 and O2: O2's owner may not take over the instance through a reset link."""
    owner_id = me(w.owner)["user"]["id"]
    r = w.mallory.post(f"/api/orgs/{w.o2}/members/{owner_id}/password-reset")
    assert r.status_code == 403, r.text
    assert "another organisation" in r.json()["error"]["message"]
    # a member of O2 alone can still be reset by O2's owner
    _, solo_id = w.web.invite(w.mallory, w.o2, "solo@o2.example", "viewer")
    ok = w.mallory.post(f"/api/orgs/{w.o2}/members/{solo_id}/password-reset")
    assert ok.status_code == 201 and ok.json()["reset_token"].startswith("lxr_")


def test_a_victim_who_accepts_an_invitation_joins_but_stays_out_of_reach_of_resets_and_audit(w: World) -> None:
    invite = w.mallory.post(f"/api/orgs/{w.o2}/invitations", json={"email": "victim@o1.example", "role": "viewer"})
    assert w.victim.post("/api/invitations/accept", json={"token": invite.json()["token"]}).status_code == 200
    assert _members(w.mallory, w.o2)["victim@o1.example"] == "viewer"
    r = w.mallory.post(f"/api/orgs/{w.o2}/members/{w.victim_id}/password-reset")
    assert r.status_code == 403
    w.web.login("victim@o1.example", PASSWORD)  # a sign-in after joining O2
    bad = httpx.post(f"{w.server.url}/api/auth/login", json={"email": "victim@o1.example", "password": "nope"})
    assert bad.status_code == 401
    audit = w.mallory.get(f"/api/orgs/{w.o2}/audit", params={"limit": 500}).json()["items"]
    assert all(e["org_id"] in (w.o2, None) for e in audit)
    assert [e for e in audit if e["target_id"] == w.victim_id and e["org_id"] is None] == []
    assert any(e["actor_label"] == "mallory@o2.example" and e["action"] == "login" for e in audit)
    # O1, where the victim was a member alone before, still sees their sign-ins? No: they are shared now.
    o1_audit = w.owner.get(f"/api/orgs/{w.o1}/audit", params={"limit": 500}).json()["items"]
    assert not [e for e in o1_audit if e["target_id"] == w.victim_id and e["action"].startswith("login")]
    assert w.mallory.delete(f"/api/orgs/{w.o2}/members/{w.victim_id}").status_code == 204


def test_a_member_of_one_org_alone_has_their_sign_ins_in_that_org_audit_since_they_joined(w: World) -> None:
    _, solo_id = w.web.invite(w.owner, w.o1, "solo-audit@o1.example", "viewer")
    w.web.login("solo-audit@o1.example", PASSWORD)
    audit = w.owner.get(f"/api/orgs/{w.o1}/audit", params={"action": "login"}).json()["items"]
    assert [e["target_id"] for e in audit].count(solo_id) >= 1


def test_another_orgs_scim_token_cannot_link_or_rename_an_account(w: World) -> None:
    scim = w.scim(w.scim2)
    body = {"schemas": [USER], "userName": "victim@o1.example", "active": True}
    r = scim.post("/Users", json=body)
    assert r.status_code == 409, r.text
    assert r.json()["scimType"] == "uniqueness"
    assert scim.get("/Users", params={"filter": 'userName eq "victim@o1.example"'}).json()["totalResults"] == 0
    assert scim.get(f"/Users/{w.victim_id}").status_code == 404
    patch = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": "evil@o2.example"}]}
    assert scim.patch(f"/Users/{w.victim_id}", json=patch).status_code == 404
    assert me(w.victim)["user"]["email"] == "victim@o1.example"
    w.web.login("victim@o1.example", PASSWORD)


def test_scim_stops_renaming_an_account_once_it_belongs_to_another_org_too(w: World) -> None:
    scim = w.scim(w.scim2)
    created = scim.post("/Users", json={"schemas": [USER], "userName": "provisioned@o2.example", "active": True})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    reset = w.mallory.post(f"/api/orgs/{w.o2}/members/{user_id}/password-reset").json()["reset_token"]
    r = httpx.post(f"{w.server.url}/api/auth/password/reset", json={"token": reset, "password": PASSWORD})
    assert r.status_code == 204, r.text
    rename = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": "p2@o2.example"}]}
    assert scim.patch(f"/Users/{user_id}", json=rename).status_code == 200  # O2's own: fine
    invite = w.owner.post(f"/api/orgs/{w.o1}/invitations", json={"email": "p2@o2.example", "role": "viewer"})
    person = w.web.login("p2@o2.example", PASSWORD)
    assert person.post("/api/invitations/accept", json={"token": invite.json()["token"]}).status_code == 200
    back = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": "evil@o2.example"}]}
    refused = scim.patch(f"/Users/{user_id}", json=back)
    assert refused.status_code == 400 and refused.json()["scimType"] == "mutability"
    assert me(person)["user"]["email"] == "p2@o2.example"
    # deactivating it in O2 removes only O2's role: the account still works for O1
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert scim.patch(f"/Users/{user_id}", json=off).status_code == 200
    assert [o["id"] for o in me(w.web.login("p2@o2.example", PASSWORD))["orgs"]] == [w.o1]


def test_parallel_login_guesses_cannot_exceed_the_lockout_limit(w: World) -> None:
    w.web.invite(w.owner, w.o1, "guessed@o1.example", "viewer")
    url = f"{w.server.url}/api/auth/login"
    passwords = ["wrong-guess"] * 39 + [PASSWORD]

    def attempt(password: str) -> int:
        return httpx.post(url, json={"email": "guessed@o1.example", "password": password}, timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        codes = list(pool.map(attempt, passwords))
    checked = [c for c in codes if c != 429]
    assert len(checked) <= 5, codes  # [auth] login_max_failures = 5
    assert codes.count(429) >= 35


def test_accepting_an_invitation_never_lowers_a_project_role(w: World) -> None:
    project = w.owner.post("/api/projects", json={"name": "keep-role", "org_id": w.o1}).json()["project_id"]
    member, member_id = w.web.invite(w.owner, w.o1, "keeps@o1.example", "member")
    r = w.owner.post(f"/api/projects/{project}/members", json={"user_id": member_id, "role": "admin"})
    assert r.status_code == 201, r.text
    body = {"role": "viewer", "email": "keeps@o1.example", "project_id": project, "project_role": "viewer"}
    invite = w.owner.post(f"/api/orgs/{w.o1}/invitations", json=body)
    assert member.post("/api/invitations/accept", json={"token": invite.json()["token"]}).status_code == 200
    roles = {p["project_id"]: p["role"] for p in me(member)["projects"]}
    assert roles[project] == "admin"
    assert _members(w.owner, w.o1)["keeps@o1.example"] == "member"

"""Each role can do exactly what its row of docs/security.md's permission table says, over HTTP.

Every action of the table is probed through its endpoint as the owner, an admin, a member and a viewer
(and as API keys of each scope): allowed actions answer 2xx, the others 403. Probes that change
something undo it, so the order does not matter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from lynex_box.auth import rbac
from tests.auth.test_rbac import documented_table
from tests.e2e.accounts import Browsers, me
from tests.e2e.server import RunningServer

NOT_PROBED_HERE: set[str] = set()
PROBE_RULE = {"name": "probe", "metric": "span_count", "comparison": "gt", "threshold": 1, "window_s": 60}


@dataclass
class World:
    server: RunningServer
    web: Browsers
    org: str
    project: str
    target: str
    clients: dict[str, httpx.Client]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = RunningServer(tmp_path_factory.mktemp("roles") / "data").start()
    web = Browsers(server)
    owner = web.admin()
    org = me(owner)["orgs"][0]["id"]
    clients = {"owner": owner}
    for role in ("admin", "member", "viewer"):
        clients[role], _ = web.invite(owner, org, f"{role}@acme.io", role)
    _, target = web.invite(owner, org, "target@acme.io", "viewer")
    yield World(server, web, org, server.project, target, clients)
    web.close()
    server.stop()


def _undo(first: httpx.Response, undo: Callable[[httpx.Response], httpx.Response]) -> int:
    if first.is_success:
        assert undo(first).is_success
    return first.status_code


def probes(w: World) -> dict[str, Callable[[httpx.Client], int]]:
    p, org, target = w.project, w.org, w.target
    return {
        "data.read": lambda c: c.get(f"/v1/projects/{p}/traces").status_code,
        "usage.read": lambda c: c.get(f"/api/projects/{p}/usage").status_code,
        "data.annotate": lambda c: c.post(f"/v1/projects/{p}/scores", json={"scores": []}).status_code,
        "settings.read": lambda c: c.get(f"/api/projects/{p}/settings").status_code,
        "members.read": lambda c: c.get(f"/api/projects/{p}/members").status_code,
        "keys.read": lambda c: c.get(f"/api/projects/{p}/keys").status_code,
        "keys.manage": lambda c: _undo(
            c.post(f"/api/projects/{p}/keys", json={"scope": "ingest"}),
            lambda r: c.delete(f"/api/projects/{p}/keys/{r.json()['key_id']}"),
        ),
        "members.manage": lambda c: _undo(
            c.post(f"/api/projects/{p}/members", json={"user_id": target, "role": "viewer"}),
            lambda r: c.delete(f"/api/projects/{p}/members/{target}"),
        ),
        "settings.manage": lambda c: c.patch(f"/api/projects/{p}/settings", json={"retention_days": 30}).status_code,
        "audit.read": lambda c: c.get(f"/api/projects/{p}/audit").status_code,
        "alerts.read": lambda c: c.get(f"/api/projects/{p}/alerts/rules").status_code,
        "alerts.manage": lambda c: _undo(
            c.post(f"/api/projects/{p}/alerts/rules", json=PROBE_RULE),
            lambda r: c.delete(f"/api/projects/{p}/alerts/rules/{r.json()['id']}"),
        ),
        "org.read": lambda c: 200 if org in [o["id"] for o in me(c)["orgs"]] else 404,
        "org.members.read": lambda c: c.get(f"/api/orgs/{org}/members").status_code,
        "org.members.manage": lambda c: (
            c.patch(f"/api/orgs/{org}/members/{target}", json={"role": "viewer"}).status_code
        ),
        "org.invite": lambda c: _undo(
            c.post(f"/api/orgs/{org}/invitations", json={"role": "viewer"}),
            lambda r: c.delete(f"/api/orgs/{org}/invitations/{r.json()['id']}"),
        ),
        "org.audit.read": lambda c: c.get(f"/api/orgs/{org}/audit").status_code,
        "org.projects.create": lambda c: c.post("/api/projects", json={"name": "probe", "org_id": org}).status_code,
        "org.password_reset": lambda c: c.post(f"/api/orgs/{org}/members/{target}/password-reset").status_code,
        "org.scim.manage": lambda c: _undo(
            c.post(f"/api/orgs/{org}/scim-token"), lambda r: c.delete(f"/api/orgs/{org}/scim-token")
        ),
    }


def test_every_action_of_the_table_has_a_probe(world: World) -> None:
    assert set(probes(world)) | NOT_PROBED_HERE == set(rbac.ACTIONS)


@pytest.mark.parametrize("role", rbac.ROLES)
def test_each_role_can_do_exactly_what_its_row_says(world: World, role: str) -> None:
    row = documented_table()[role]
    got = {action: probe(world.clients[role]) for action, probe in probes(world).items()}
    for action, status in got.items():
        expected = "allowed" if row[action] else "denied"
        ok = 200 <= status < 300 if row[action] else status == 403
        assert ok, f"{role} {action}: {status}, the table says {expected}"


def test_a_project_role_overrides_the_org_role_on_that_project_only(world: World) -> None:
    owner, viewer = world.clients["owner"], world.clients["viewer"]
    other = owner.post("/api/projects", json={"name": "other", "org_id": world.org}).json()["project_id"]
    viewer_id = me(viewer)["user"]["id"]
    r = owner.post(f"/api/projects/{world.project}/members", json={"email": "viewer@acme.io", "role": "admin"})
    assert r.status_code == 201 and r.json()["role"] == "admin" and r.json()["org_role"] == "viewer"
    try:
        roles = {p["project_id"]: p["role"] for p in me(viewer)["projects"]}
        assert roles[world.project] == "admin" and roles[other] == "viewer"
        assert viewer.get(f"/api/projects/{world.project}/keys").status_code == 200
        assert viewer.get(f"/api/projects/{other}/keys").status_code == 403
        # an admin may not lift anyone to owner, even on one project
        assert (
            viewer.patch(f"/api/projects/{world.project}/members/{viewer_id}", json={"role": "owner"}).status_code
            == 403
        )
    finally:
        assert owner.delete(f"/api/projects/{world.project}/members/{viewer_id}").status_code == 204
    assert viewer.get(f"/api/projects/{world.project}/keys").status_code == 403


def test_an_org_admin_restricted_to_viewer_on_one_project(world: World) -> None:
    owner, admin = world.clients["owner"], world.clients["admin"]
    admin_id = me(admin)["user"]["id"]
    assert owner.post(f"/api/projects/{world.project}/members", json={"user_id": admin_id, "role": "viewer"}).is_success
    try:
        assert admin.get(f"/api/projects/{world.project}/keys").status_code == 403
        assert admin.get(f"/v1/projects/{world.project}/traces").status_code == 200
    finally:
        assert owner.delete(f"/api/projects/{world.project}/members/{admin_id}").status_code == 204


@pytest.mark.parametrize("scope", ["ingest", "read", "admin"])
def test_api_keys_can_do_what_their_scope_allows_and_never_org_actions(world: World, scope: str) -> None:
    owner = world.clients["owner"]
    key = owner.post(f"/api/projects/{world.project}/keys", json={"scope": scope}).json()
    client = world.web.new(headers={"Authorization": f"Bearer {key['api_key']}"})
    try:
        for action, probe in probes(world).items():
            if action == "org.read":
                continue  # /api/auth/me is about users
            # keys post scores (annotations) with the ingest right, like any other data they send
            allowed = rbac.scope_allows(scope, "data.ingest" if action == "data.annotate" else action)
            status = probe(client)
            assert (200 <= status < 300) if allowed else status == 403, f"{scope} key {action}: {status}"
        ingest = client.post(f"/v1/projects/{world.project}/events", json={"events": [{"trace_id": "k"}]})
        assert ingest.status_code == (202 if rbac.scope_allows(scope, "data.ingest") else 403)
    finally:
        owner.delete(f"/api/projects/{world.project}/keys/{key['key_id']}")


def test_keys_created_by_api_work_at_once_and_stop_at_once_when_revoked(world: World) -> None:
    owner = world.clients["owner"]
    key = owner.post(f"/api/projects/{world.project}/keys", json={"scope": "ingest", "expires_in_days": 1}).json()
    assert key["expires_at"] > time.time() * 1e6
    listed = owner.get(f"/api/projects/{world.project}/keys").json()["items"]
    assert key["key_id"] in [k["key_id"] for k in listed] and all("api_key" not in k for k in listed)
    headers = {"Authorization": f"Bearer {key['api_key']}"}
    url = f"{world.server.url}/v1/projects/{world.project}/events"
    assert httpx.post(url, json={"events": [{"trace_id": "n"}]}, headers=headers).status_code == 202
    assert owner.delete(f"/api/projects/{world.project}/keys/{key['key_id']}").status_code == 204
    assert httpx.post(url, json={"events": [{"trace_id": "n"}]}, headers=headers).status_code == 401
    assert owner.delete(f"/api/projects/{world.project}/keys/{key['key_id']}").status_code == 404
    bad = owner.post(f"/api/projects/{world.project}/keys", json={"scope": "root"})
    assert bad.status_code == 400
    past = owner.post(
        f"/api/projects/{world.project}/keys", json={"scope": "read", "expires_at": "2001-01-01T00:00:00Z"}
    )
    assert past.status_code == 400


def test_org_owners_are_kept_and_admins_cannot_touch_them(world: World) -> None:
    owner, admin = world.clients["owner"], world.clients["admin"]
    owner_id = me(owner)["user"]["id"]
    assert owner.patch(f"/api/orgs/{world.org}/members/{owner_id}", json={"role": "admin"}).status_code == 409
    assert admin.delete(f"/api/orgs/{world.org}/members/{owner_id}").status_code == 403
    assert admin.patch(f"/api/orgs/{world.org}/members/{world.target}", json={"role": "owner"}).status_code == 403
    assert admin.post(f"/api/orgs/{world.org}/invitations", json={"role": "owner"}).status_code == 403
    members = {m["email"]: m["role"] for m in owner.get(f"/api/orgs/{world.org}/members").json()["items"]}
    assert members["admin@lynex.local"] == "owner" and members["viewer@acme.io"] == "viewer"

"""Tenancy: a key or a user of project A never reaches project B's data, whatever path, id or filter.

Every route of the running app whose path names a project or an org is called for B (and B's org) with
every method, as A's admin key and as A's org admin; each answer must be a refusal (401/403/404) that
carries none of B's data. Then A's own paths are tried with B's ids (trace, key, member, invitation)
and B's filter values.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.routing import Route

from lynex_box.app import create_app
from lynex_box.config import Settings
from tests.e2e.accounts import Browsers, me, wait_for_trace
from tests.e2e.server import RunningServer

B_EVENT = {
    "trace_id": "b-only",
    "span_id": "b-span",
    "name": "secret-b",
    "session_id": "sess-b",
    "user_id": "user-b",
    "input": "b's private prompt",
}
SHARED = {"trace_id": "shared-id", "name": "in-both", "input": "b's shared-id copy"}


@dataclass
class Tenants:
    server: RunningServer
    web: Browsers
    a_project: str
    a_org: str
    a_key: str
    a_admin: httpx.Client
    b_project: str
    b_org: str
    b_key: str
    b_key_id: str
    b_user: str
    b_invitation: str


@pytest.fixture(scope="module")
def t(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    server = RunningServer(tmp_path_factory.mktemp("tenancy") / "data").start()
    web = Browsers(server)
    owner = web.admin()
    a_org = me(owner)["orgs"][0]["id"]
    b_org = owner.post("/api/orgs", json={"name": "B corp"}).json()["id"]
    b_project = owner.post("/api/projects", json={"name": "b", "org_id": b_org}).json()["project_id"]
    b_key = owner.post(f"/api/projects/{b_project}/keys", json={"scope": "admin"}).json()
    _, b_user = web.invite(owner, b_org, "only-b@b.io", "member")
    b_invitation = owner.post(f"/api/orgs/{b_org}/invitations", json={"role": "viewer"}).json()["id"]
    a_admin, _ = web.invite(owner, a_org, "admin@a.io", "admin")
    events = f"{server.url}/v1/projects/{b_project}/events"
    r = httpx.post(events, json={"events": [B_EVENT, SHARED]}, headers=server.headers(b_key["api_key"]))
    assert r.status_code == 202, r.text
    a_events = f"{server.url}/v1/projects/{server.project}/events"
    assert httpx.post(a_events, json={"events": [{"trace_id": "a-1"}]}, headers=server.headers()).status_code == 202
    wait_for_trace(server, b_project, b_key["api_key"], "b-only")
    wait_for_trace(server, server.project, server.creds["api_key"], "a-1")
    yield Tenants(
        server,
        web,
        server.project,
        a_org,
        server.creds["api_key"],
        a_admin,
        b_project,
        b_org,
        b_key["api_key"],
        b_key["key_id"],
        b_user,
        b_invitation,
    )
    web.close()
    server.stop()


def _routes() -> list[tuple[str, str]]:
    app = create_app(Settings())
    out: list[tuple[str, str]] = []
    for route in app.routes:
        if isinstance(route, Route) and ("{project_id}" in route.path or "{org_id}" in route.path):
            out.extend((m, route.path) for m in sorted(route.methods or ()) if m != "HEAD")
    return out


def _fill(path: str, t: Tenants) -> str:
    """The route's path with B's ids (ids of end users and sessions in B's data under /v1/)."""
    values = {
        "project_id": t.b_project,
        "org_id": t.b_org,
        "trace_id": "b-only",
        "span_id": "b-span",
        "key_id": t.b_key_id,
        "user_id": t.b_user,
        "invitation_id": t.b_invitation,
        "name": "p",
        "session_id": "sess-b",
    }
    if path.startswith("/v1/"):
        values["user_id"] = "user-b"
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "b-value"), path)


BODY = {
    "events": [{"trace_id": "a-writes-b"}],
    "role": "viewer",
    "scope": "admin",
    "user_id": "x",
    "name": "n",
    "retention_days": 1,
    "scores": [],
    "prices": [],
}
B_SECRETS = ("secret-b", "b's private prompt", "sess-b", "user-b", "only-b@b.io", "B corp")


def _check_refused(r: httpx.Response, who: str) -> None:
    assert r.status_code in (401, 403, 404), f"{who} {r.request.method} {r.request.url.path}: {r.status_code} {r.text}"
    assert not any(s in r.text for s in B_SECRETS), f"{who} {r.request.url.path} leaked B data: {r.text}"


def test_there_are_routes_to_check() -> None:
    paths = {p for _, p in _routes()}
    assert "/v1/projects/{project_id}/traces/{trace_id}" in paths and "/api/orgs/{org_id}/members" in paths


@pytest.mark.parametrize(("method", "path"), _routes())
def test_every_project_and_org_route_refuses_a_caller_of_another_tenant(t: Tenants, method: str, path: str) -> None:
    url = _fill(path, t)
    key_client = t.web.new(headers={"Authorization": f"Bearer {t.a_key}"})
    for who, client in (("A's admin key", key_client), ("A's org admin", t.a_admin)):
        body = BODY if method in ("POST", "PUT", "PATCH") else None
        _check_refused(client.request(method, url, json=body), who)
    basic = httpx.BasicAuth(t.b_project, t.a_key)  # naming B as the public key does not help
    _check_refused(t.web.new(auth=basic).request(method, url), "A's key as Basic for B")


def test_b_is_untouched_after_all_attempts(t: Tenants) -> None:
    headers = t.server.headers(t.b_key)
    traces = httpx.get(f"{t.server.url}/v1/projects/{t.b_project}/traces", headers=headers).json()["items"]
    assert sorted(x["trace_id"] for x in traces) == ["b-only", "shared-id"]
    assert (
        httpx.get(f"{t.server.url}/api/projects/{t.b_project}/settings", headers=headers).json()["retention_days"]
        is None
    )
    assert httpx.get(f"{t.server.url}/api/projects/{t.b_project}/keys", headers=headers).status_code == 200


def test_a_trace_id_of_b_is_not_found_through_a(t: Tenants) -> None:
    for client in (t.web.new(headers={"Authorization": f"Bearer {t.a_key}"}), t.a_admin):
        base = f"/v1/projects/{t.a_project}"
        assert client.get(f"{base}/traces/b-only").status_code == 404
        assert client.get(f"{base}/traces/shared-id").status_code == 404
        for params in ({"session_id": "sess-b"}, {"user_id": "user-b"}, {"name": "secret-b"}, {"q": "private"}):
            for what in ("traces", "spans", "sessions", "users"):
                r = client.get(f"{base}/{what}", params=params)
                assert r.status_code == 200 and r.json()["items"] == [], (what, params, r.text)
        series = client.get(f"{base}/metrics", params={"group_by": "user_id"}).json()["series"]
        assert "user-b" not in [s["group"] for s in series]


def test_b_ids_through_a_paths_are_not_found(t: Tenants) -> None:
    admin = t.a_admin
    assert admin.delete(f"/api/projects/{t.a_project}/keys/{t.b_key_id}").status_code == 404
    assert admin.patch(f"/api/projects/{t.a_project}/members/{t.b_user}", json={"role": "admin"}).status_code == 404
    assert admin.delete(f"/api/projects/{t.a_project}/members/{t.b_user}").status_code == 404
    assert admin.patch(f"/api/orgs/{t.a_org}/members/{t.b_user}", json={"role": "viewer"}).status_code == 404
    assert admin.delete(f"/api/orgs/{t.a_org}/members/{t.b_user}").status_code == 404
    assert admin.post(f"/api/orgs/{t.a_org}/members/{t.b_user}/password-reset").status_code == 404
    assert admin.delete(f"/api/orgs/{t.a_org}/invitations/{t.b_invitation}").status_code == 404
    time.sleep(0.1)
    r = httpx.post(
        f"{t.server.url}/v1/projects/{t.b_project}/events", json={"events": []}, headers=t.server.headers(t.b_key)
    )
    assert r.status_code == 202, "B's key must still work"


def test_listings_show_only_the_callers_tenant(t: Tenants) -> None:
    assert [p["project_id"] for p in me(t.a_admin)["projects"]] == [t.a_project]
    assert [o["id"] for o in me(t.a_admin)["orgs"]] == [t.a_org]
    assert [p["project_id"] for p in t.a_admin.get("/api/projects").json()["items"]] == [t.a_project]
    key_list = httpx.get(f"{t.server.url}/api/projects", headers=t.server.headers(t.a_key)).json()["items"]
    assert [p["project_id"] for p in key_list] == [t.a_project]
    audit = t.a_admin.get(f"/api/projects/{t.a_project}/audit").json()["items"]
    assert all(e["project_id"] == t.a_project for e in audit)
    org_audit = t.a_admin.get(f"/api/orgs/{t.a_org}/audit", params={"limit": 500}).json()["items"]
    assert all(e["org_id"] in (t.a_org, None) for e in org_audit)
    assert t.b_user not in [e["target_id"] for e in org_audit]
    members = t.a_admin.get(f"/api/projects/{t.a_project}/members").json()["items"]
    assert "only-b@b.io" not in [m["email"] for m in members]
    usage = t.a_admin.get(f"/api/projects/{t.a_project}/usage").json()
    assert usage["totals"]["events"] == 1


def test_a_user_with_only_a_project_role_sees_that_project_and_nothing_else(t: Tenants) -> None:
    owner = t.web.admin()
    guest, guest_id = t.web.invite(owner, t.a_org, "guest@a.io", "viewer")
    sibling = owner.post("/api/projects", json={"name": "sibling", "org_id": t.a_org}).json()["project_id"]
    assert owner.delete(f"/api/orgs/{t.a_org}/members/{guest_id}").status_code == 204
    r = owner.post(f"/api/projects/{t.a_project}/members", json={"user_id": guest_id, "role": "viewer"})
    assert r.status_code == 201 and r.json()["org_role"] is None
    info = me(guest)
    assert info["orgs"] == [] and [p["project_id"] for p in info["projects"]] == [t.a_project]
    assert guest.get(f"/v1/projects/{t.a_project}/traces").status_code == 200
    assert guest.get(f"/v1/projects/{sibling}/traces").status_code == 404
    assert guest.get(f"/api/orgs/{t.a_org}/members").status_code == 404
    assert guest.get(f"/v1/projects/{t.b_project}/traces").status_code == 404

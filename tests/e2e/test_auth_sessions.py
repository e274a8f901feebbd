"""Login sessions as the web UI uses them: cookies, CSRF, logout, password change and reset, lockout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.accounts import PASSWORD, Browsers, me
from tests.e2e.server import RunningServer


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(tmp_path_factory.mktemp("auth") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def web(srv: RunningServer) -> Iterator[Browsers]:
    browsers = Browsers(srv)
    yield browsers
    browsers.close()


def cookie_header(r: httpx.Response, name: str) -> str:
    found = [c for c in r.headers.get_list("set-cookie") if c.startswith(name + "=")]
    assert len(found) == 1, r.headers.get_list("set-cookie")
    return found[0]


def test_login_sets_the_session_and_csrf_cookies_and_me_describes_the_user(srv: RunningServer, web: Browsers) -> None:
    client = web.new()
    r = client.post(
        "/api/auth/login", json={"email": srv.creds["admin_email"], "password": srv.creds["admin_password"]}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"user", "csrf_token"} and set(body["user"]) == {"id", "email", "name", "must_change_password"}
    session = cookie_header(r, "lynex_session").lower()
    csrf = cookie_header(r, "lynex_csrf").lower()
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session and "secure" not in session
    assert "httponly" not in csrf and "samesite=lax" in csrf
    assert client.cookies["lynex_csrf"] == body["csrf_token"]
    info = me(client)
    assert info["user"]["email"] == srv.creds["admin_email"]
    assert [o["role"] for o in info["orgs"]] == ["owner"]
    assert info["projects"][0]["project_id"] == srv.project and info["projects"][0]["role"] == "owner"
    assert set(info["projects"][0]) == {"project_id", "name", "org_id", "role"}
    assert client.get(f"/v1/projects/{srv.project}/traces").status_code == 200  # the query API takes sessions


def test_me_with_optional_answers_signed_out_as_200_not_401(srv: RunningServer, web: Browsers) -> None:
    """The UI asks `?optional=1` on every page load: signed out is an answer there (a 401 is a console error)."""
    r = httpx.get(f"{srv.url}/api/auth/me", params={"optional": "1"})
    assert r.status_code == 200 and r.json() == {"user": None, "orgs": [], "projects": []}
    assert httpx.get(f"{srv.url}/api/auth/me").status_code == 401  # without it, still the 401
    signed_in = web.admin().get("/api/auth/me", params={"optional": "1"})
    assert signed_in.status_code == 200 and signed_in.json()["user"]["email"] == srv.creds["admin_email"]


def test_state_changing_calls_need_the_csrf_header(srv: RunningServer, web: Browsers) -> None:
    client = web.admin()
    token = client.headers.pop("X-CSRF-Token")
    settings = f"/api/projects/{srv.project}/settings"
    r = client.patch(settings, json={"retention_days": 9})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = client.patch(settings, json={"retention_days": 9}, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    assert client.post("/api/auth/logout").status_code == 403
    r = client.patch(settings, json={"retention_days": 9}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["retention_days"] == 9
    other = web.admin()  # another session's token does not fit this one
    r = client.patch(settings, json={"retention_days": 8}, headers={"X-CSRF-Token": other.headers["X-CSRF-Token"]})
    assert r.status_code == 403
    form = client.post(settings.replace("settings", "keys"), data={"scope": "admin"}, headers={"X-CSRF-Token": token})
    assert form.status_code == 415  # a cross-site form cannot send JSON


def test_logout_ends_the_session(srv: RunningServer, web: Browsers) -> None:
    client = web.admin()
    stolen = client.cookies["lynex_session"]
    r = client.post("/api/auth/logout")
    assert r.status_code == 204
    assert "max-age=0" in cookie_header(r, "lynex_session").lower() or 'lynex_session=""' in cookie_header(
        r, "lynex_session"
    )
    replay = web.new(cookies={"lynex_session": stolen})
    assert replay.get("/api/auth/me").status_code == 401
    assert replay.get(f"/v1/projects/{srv.project}/traces").status_code == 401
    assert httpx.post(f"{srv.url}/api/auth/logout").status_code == 204  # idempotent without a session


def test_password_change_keeps_this_session_and_ends_the_others(srv: RunningServer, web: Browsers) -> None:
    admin = web.admin()
    org = me(admin)["orgs"][0]["id"]
    first, _ = web.invite(admin, org, "pw@acme.io", "member")
    second = web.login("pw@acme.io", PASSWORD)
    bad = first.post("/api/auth/password", json={"current_password": "nope", "new_password": "another long one"})
    assert bad.status_code == 403
    weak = first.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert weak.status_code == 400 and "short" not in weak.text
    ok = first.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "another long one"})
    assert ok.status_code == 204
    assert first.get("/api/auth/me").status_code == 200
    assert second.get("/api/auth/me").status_code == 401
    assert (
        httpx.post(f"{srv.url}/api/auth/login", json={"email": "pw@acme.io", "password": PASSWORD}).status_code == 401
    )
    web.login("pw@acme.io", "another long one")


def test_an_admin_reset_link_sets_a_new_password_once_and_ends_all_sessions(srv: RunningServer, web: Browsers) -> None:
    admin = web.admin()
    org = me(admin)["orgs"][0]["id"]
    user, user_id = web.invite(admin, org, "forgot@acme.io", "viewer")
    r = admin.post(f"/api/orgs/{org}/members/{user_id}/password-reset")
    assert r.status_code == 201, r.text
    token = r.json()["reset_token"]
    assert r.json()["url"].endswith("/reset-password#" + token)
    anonymous = web.new()
    assert anonymous.post("/api/auth/password/reset", json={"token": token, "password": "x"}).status_code == 400
    assert (
        anonymous.post("/api/auth/password/reset", json={"token": token, "password": "fresh password"}).status_code
        == 204
    )
    assert user.get("/api/auth/me").status_code == 401
    again = anonymous.post("/api/auth/password/reset", json={"token": token, "password": "fresh password 2"})
    assert again.status_code == 404
    web.login("forgot@acme.io", "fresh password")


def test_invitations_are_looked_up_and_used_once(srv: RunningServer, web: Browsers) -> None:
    admin = web.admin()
    org = me(admin)["orgs"][0]["id"]
    r = admin.post(f"/api/orgs/{org}/invitations", json={"role": "viewer"})
    token = r.json()["token"]
    assert r.json()["url"].endswith("/invite#" + token)
    anonymous = web.new()
    looked = anonymous.post("/api/invitations/lookup", json={"token": token})
    assert looked.status_code == 200 and looked.json()["role"] == "viewer" and looked.json()["org_name"] == "Default"
    assert [i["id"] for i in admin.get(f"/api/orgs/{org}/invitations").json()["items"]] == [r.json()["id"]]
    body = {"token": token, "email": "open@acme.io", "password": PASSWORD, "name": "Open"}
    joined = anonymous.post("/api/invitations/accept", json=body)
    assert joined.status_code == 201 and joined.json()["user"]["name"] == "Open"
    assert me(anonymous)["orgs"][0]["role"] == "viewer"
    reuse = httpx.post(f"{srv.url}/api/invitations/accept", json={**body, "email": "second@acme.io"})
    assert reuse.status_code == 404
    assert anonymous.post("/api/invitations/lookup", json={"token": token}).status_code == 404


def test_repeated_failed_logins_lock_the_email_with_429_and_retry_after(srv: RunningServer, web: Browsers) -> None:
    admin = web.admin()
    org = me(admin)["orgs"][0]["id"]
    web.invite(admin, org, "target@acme.io", "viewer")
    url = f"{srv.url}/api/auth/login"
    for _ in range(5):
        r = httpx.post(url, json={"email": "target@acme.io", "password": "guess"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"
    r = httpx.post(url, json={"email": "target@acme.io", "password": PASSWORD})
    assert r.status_code == 429, "a locked account must refuse even the right password"
    assert 1 <= int(r.headers["retry-after"]) <= 30
    assert httpx.post(url, json={"email": "TARGET@acme.io", "password": "guess"}).status_code == 429
    unknown = httpx.post(url, json={"email": "nobody@acme.io", "password": "guess"})
    assert unknown.status_code == 401 and unknown.json() == r.json() | {
        "error": {"code": "invalid_credentials", "message": "wrong email or password"}
    }
    audit = admin.get(f"/api/orgs/{org}/audit", params={"action": "login.failed"}).json()["items"]
    assert len([e for e in audit if e["actor_label"] == "target@acme.io"]) == 5


def test_bad_login_bodies_get_clear_errors(srv: RunningServer, web: Browsers) -> None:
    url = f"{srv.url}/api/auth/login"
    assert httpx.post(url, content=b"email=a&password=b").status_code == 415
    assert httpx.post(url, content=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400
    assert httpx.post(url, json={"email": "a@b.io"}).status_code == 400
    assert httpx.post(url, json={"email": ["a"], "password": "x"}).status_code == 400
    assert httpx.get(f"{srv.url}/api/auth/me").status_code == 401


def test_cookies_are_secure_when_configured(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data", env={"LYNEX_SERVER_PUBLIC_URL": "https://lynex.example.com"}).start()
    try:
        r = httpx.post(
            f"{server.url}/api/auth/login",
            json={"email": server.creds["admin_email"], "password": server.creds["admin_password"]},
        )
        assert "secure" in cookie_header(r, "lynex_session").lower()
        assert "secure" in cookie_header(r, "lynex_csrf").lower()
    finally:
        server.stop()


def test_the_operator_can_recover_a_lost_password_from_the_command_line(srv: RunningServer, web: Browsers) -> None:
    import subprocess
    import sys

    listed = srv.cli("users", "list")
    assert srv.creds["admin_email"] in [u["email"] for u in listed]
    link = srv.cli("users", "reset-password", srv.creds["admin_email"])
    assert link["url"].endswith("#" + link["reset_token"])
    new = "operator chosen passphrase"
    r = web.new().post("/api/auth/password/reset", json={"token": link["reset_token"], "password": new})
    assert r.status_code == 204
    web.login(srv.creds["admin_email"], new)
    cmd = [
        sys.executable,
        "-m",
        "lynex_box",
        "users",
        "reset-password",
        srv.creds["admin_email"],
        "--password-stdin",
        "--data-dir",
        str(srv.data_dir),
    ]
    subprocess.run(cmd, input=srv.creds["admin_password"] + "\n", text=True, check=True, capture_output=True)
    admin = web.admin()
    org = me(admin)["orgs"][0]["id"]
    # the operator knows the password set from the command line: the owner's next sign-in must replace it first
    refused = admin.get(f"/api/orgs/{org}/audit")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "password_change_required"
    chosen = srv.creds["admin_password"] + " again"
    body = {"current_password": srv.creds["admin_password"], "new_password": chosen}
    assert admin.post("/api/auth/password", json=body).status_code == 204
    srv.creds["admin_password"] = chosen  # the password in force, for the module's later tests
    audit = admin.get(f"/api/orgs/{org}/audit", params={"action": "password.reset"}).json()["items"]
    assert [e["actor_type"] for e in audit][:2] == ["system", "user"]

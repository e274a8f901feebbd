"""OpenID Connect login against a real local provider: PKCE, state, nonce, token checks, group -> role mapping."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.accounts import Browsers, me
from tests.e2e.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider
from tests.e2e.server import RunningServer


@pytest.fixture(scope="module")
def op() -> Iterator[Provider]:
    provider = Provider().start()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def srv(op: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        "LYNEX_OIDC_ENABLED": "true",
        "LYNEX_OIDC_ISSUER": op.issuer,
        "LYNEX_OIDC_CLIENT_ID": CLIENT_ID,
        "LYNEX_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "LYNEX_OIDC_SCOPES": "openid email profile groups",
        "LYNEX_OIDC_GROUP_ROLES": "lynex-admins=admin, lynex-viewers=viewer",
    }
    server = RunningServer(tmp_path_factory.mktemp("oidc") / "data", env=env).start()
    yield server
    server.stop()


@pytest.fixture
def web(srv: RunningServer) -> Iterator[Browsers]:
    browsers = Browsers(srv)
    yield browsers
    browsers.close()


def start(client: httpx.Client, op: Provider, next_path: str = "/ui/traces") -> str:
    """Begin a login; returns the callback URL the provider sends the browser back to."""
    r = client.get("/api/auth/oidc/login", params={"next": next_path})
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith(op.issuer + "/authorize?")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert query["code_challenge_method"] == "S256" and query["client_id"] == CLIENT_ID and query["nonce"]
    back = httpx.get(location)
    assert back.status_code == 302, back.text
    return back.headers["location"]


def sso_login(client: httpx.Client, op: Provider, next_path: str = "/ui/traces") -> httpx.Response:
    return client.get(start(client, op, next_path))


def alice(groups: list[str]) -> dict[str, object]:
    return {"sub": "alice-1", "email": "alice@corp.io", "email_verified": True, "name": "Alice", "groups": groups}


def test_the_ui_can_ask_whether_sso_is_on(srv: RunningServer, web: Browsers) -> None:
    assert web.new().get("/api/auth/oidc").json() == {"enabled": True, "login_url": "/api/auth/oidc/login"}


def test_sso_creates_the_user_with_the_role_of_their_groups(srv: RunningServer, op: Provider, web: Browsers) -> None:
    op.user = alice(["lynex-viewers", "unrelated"])
    browser = web.new()
    r = sso_login(browser, op)
    assert r.status_code == 302 and r.headers["location"] == "/ui/traces", r.text
    assert "lynex_session" in browser.cookies and "lynex_csrf" in browser.cookies
    assert "code_verifier" in op.token_requests[-1]  # PKCE: the provider checked it against the challenge
    info = me(browser)
    assert info["user"]["email"] == "alice@corp.io" and info["user"]["name"] == "Alice"
    assert [o["role"] for o in info["orgs"]] == ["viewer"]
    assert browser.get(f"/v1/projects/{srv.project}/traces").status_code == 200
    browser.headers["X-CSRF-Token"] = browser.cookies["lynex_csrf"]
    assert browser.get(f"/api/projects/{srv.project}/keys").status_code == 403
    owner = web.admin()
    org = info["orgs"][0]["id"]
    audit = owner.get(f"/api/orgs/{org}/audit").json()["items"]
    added = [e for e in audit if e["action"] == "member.added" and e["target_id"] == info["user"]["id"]]
    assert added and added[0]["actor_type"] == "system" and added[0]["details"]["role"] == "viewer"
    password = web.new().post("/api/auth/login", json={"email": "alice@corp.io", "password": ""})
    assert password.status_code in (400, 401)  # an SSO account has no password to log in with


def test_groups_are_applied_at_every_login(srv: RunningServer, op: Provider, web: Browsers) -> None:
    op.user = alice(["lynex-viewers", "lynex-admins"])
    browser = web.new()
    assert sso_login(browser, op).status_code == 302
    assert [o["role"] for o in me(browser)["orgs"]] == ["admin"]
    op.user = alice([])
    denied = sso_login(web.new(), op)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "no_role"
    owner = web.admin()
    org = me(owner)["orgs"][0]["id"]
    emails = [m["email"] for m in owner.get(f"/api/orgs/{org}/members").json()["items"]]
    assert "alice@corp.io" not in emails


def test_a_verified_email_links_an_existing_account_and_the_last_owner_stays_owner(
    srv: RunningServer, op: Provider, web: Browsers
) -> None:
    boss = {"sub": "boss-7", "email": srv.creds["admin_email"], "groups": ["lynex-admins"]}
    op.user = {**boss, "email_verified": False}
    r = sso_login(web.new(), op)
    assert r.status_code == 409, r.text
    op.user = {**boss, "email_verified": True}
    browser = web.new()
    assert sso_login(browser, op).status_code == 302
    info = me(browser)
    assert info["user"]["id"] == me(web.admin())["user"]["id"]
    assert [o["role"] for o in info["orgs"]] == ["owner"]


@pytest.mark.parametrize("fault", ["audience", "foreign_key", "nonce"])
def test_an_id_token_that_does_not_fit_the_login_is_refused(
    srv: RunningServer, op: Provider, web: Browsers, fault: str
) -> None:
    op.user = alice(["lynex-viewers"])
    if fault == "audience":
        op.audience = "someone-else"
    elif fault == "foreign_key":
        op.sign_with_foreign_key = True
    else:
        op.nonce_override = "replayed-nonce"
    try:
        browser = web.new()
        r = sso_login(browser, op)
        assert r.status_code == 401 and r.json()["error"]["code"] == "sso_failed", r.text
        assert "lynex_session" not in browser.cookies
    finally:
        op.audience, op.sign_with_foreign_key, op.nonce_override = CLIENT_ID, False, None


def test_a_callback_works_once_and_only_in_the_browser_that_started_it(
    srv: RunningServer, op: Provider, web: Browsers
) -> None:
    op.user = alice(["lynex-viewers"])
    browser = web.new()
    callback = start(browser, op)
    stranger = web.new()
    assert stranger.get(callback).status_code == 400  # no state cookie: a login CSRF attempt
    assert browser.get(callback).status_code == 302
    assert browser.get(callback).status_code == 400  # the state is used up
    forged = callback.replace("state=", "state=x")
    assert browser.get(forged).status_code == 400
    assert web.new().get("/api/auth/oidc/callback", params={"error": "access_denied"}).status_code == 401


def test_next_must_be_a_local_path(srv: RunningServer, op: Provider, web: Browsers) -> None:
    op.user = alice(["lynex-viewers"])
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = sso_login(web.new(), op, next_path=evil)
        assert r.status_code == 302 and r.headers["location"] == "/ui/", evil


def test_sso_is_off_unless_configured(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/api/auth/oidc").json() == {"enabled": False, "login_url": None}
        assert client.get("/api/auth/oidc/login").status_code == 404

"""No password, API key, session token, CSRF token, invitation or reset token appears in the server log,
in an error body, in the audit log, or anywhere in meta.db's files (they are stored as hashes only)."""

from __future__ import annotations

from pathlib import Path

import apsw
import httpx

from tests.e2e.accounts import PASSWORD, Browsers, me
from tests.e2e.server import RunningServer


def test_secrets_stay_out_of_logs_error_bodies_the_audit_log_and_meta_db(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data").start()
    web = Browsers(server)
    secrets = [server.creds["admin_password"], server.creds["api_key"], PASSWORD]
    errors: list[httpx.Response] = []
    try:
        anonymous = web.new()
        typo = "Typed-My-Password-Into-Email-42"
        errors.append(anonymous.post("/api/auth/login", json={"email": typo, "password": "x"}))
        errors.append(anonymous.post("/api/auth/login", json={"email": server.creds["admin_email"], "password": typo}))
        errors.append(
            anonymous.post(
                "/api/auth/login",
                content=b'{"password": "' + typo.encode() + b'"',
                headers={"Content-Type": "application/json"},
            )
        )
        secrets.append(typo)
        admin = web.admin()
        secrets += [admin.cookies["lynex_session"], admin.headers["X-CSRF-Token"]]
        org = me(admin)["orgs"][0]["id"]
        key = admin.post(f"/api/projects/{server.project}/keys", json={"scope": "read", "name": "ci"}).json()
        secrets.append(key["api_key"])
        invitation = admin.post(f"/api/orgs/{org}/invitations", json={"role": "member"}).json()
        secrets.append(invitation["token"])
        user = web.new()
        joined = user.post(
            "/api/invitations/accept", json={"token": invitation["token"], "email": "u@acme.io", "password": PASSWORD}
        )
        assert joined.status_code == 201
        secrets.append(user.cookies["lynex_session"])
        user.headers["X-CSRF-Token"] = joined.json()["csrf_token"]
        errors.append(user.post("/api/auth/password", json={"current_password": typo, "new_password": "short"}))
        errors.append(user.post("/api/auth/password", json={"current_password": typo, "new_password": "long enough!"}))
        user_id = me(user)["user"]["id"]
        reset = admin.post(f"/api/orgs/{org}/members/{user_id}/password-reset").json()["reset_token"]
        secrets.append(reset)
        new_password = "a brand new passphrase"
        secrets.append(new_password)
        assert anonymous.post("/api/auth/password/reset", json={"token": reset, "password": new_password}).is_success
        errors.append(anonymous.post("/api/auth/password/reset", json={"token": reset, "password": new_password}))
        assert admin.delete(f"/api/projects/{server.project}/keys/{key['key_id']}").status_code == 204
        events = f"/v1/projects/{server.project}/events"
        errors.append(
            anonymous.post(events, json={"events": []}, headers={"Authorization": f"Bearer {key['api_key']}"})
        )
        errors.append(
            anonymous.get(f"/v1/projects/{server.project}/traces", headers={"Authorization": "Bearer " + typo})
        )
        errors.append(admin.post(f"/api/projects/{server.project}/keys", json={"scope": typo}))
        assert admin.post("/api/auth/logout").status_code == 204
        audit_views = [
            admin_view.text
            for admin_view in (
                web.admin().get(f"/api/orgs/{org}/audit", params={"limit": 500}),
                web.admin().get(f"/api/projects/{server.project}/audit", params={"limit": 500}),
            )
        ]
        assert '"login.failed"' in audit_views[0] and '"key.created"' in audit_views[1]
    finally:
        web.close()
        server.stop()

    assert all(400 <= r.status_code < 500 for r in errors), [(r.status_code, r.text) for r in errors]
    log = server.log_path.read_text()
    db = apsw.Connection(str(server.data_dir / "meta.db"), flags=apsw.SQLITE_OPEN_READONLY)
    audit_rows = "\n".join(repr(row) for row in db.execute("SELECT * FROM audit_log"))
    db.close()
    assert "login.failed" in audit_rows
    stored = b"".join(p.read_bytes() for p in server.data_dir.glob("meta.db*"))
    for secret in secrets:
        assert secret not in log, "a secret is in the server log"
        assert all(secret not in r.text for r in errors), "a secret is in an error body"
        assert all(secret not in view for view in audit_views), "a secret is in the audit API"
        assert secret not in audit_rows, "a secret is in the audit log"
        assert secret.encode() not in stored, "a secret is stored in clear in meta.db"

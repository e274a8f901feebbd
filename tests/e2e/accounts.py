"""Helpers for account tests: log in like the web UI does, and create users through invitations.

`Browsers` hands out httpx clients (one per simulated browser) and closes them all at the end.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.e2e.server import RunningServer

PASSWORD = "correct horse battery"


class Browsers:
    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self._clients: list[httpx.Client] = []

    def new(self, **kw: Any) -> httpx.Client:
        client = httpx.Client(**{"base_url": self.server.url, "timeout": 10, **kw})
        self._clients.append(client)
        return client

    def login(self, email: str, password: str) -> httpx.Client:
        """A client holding the session cookie that sends the CSRF token on every call, like the UI."""
        client = self.new()
        r = client.post("/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return client

    def admin(self) -> httpx.Client:
        return self.login(self.server.creds["admin_email"], self.server.creds["admin_password"])

    def invite(
        self, admin: httpx.Client, org_id: str, email: str, role: str, **project: str
    ) -> tuple[httpx.Client, str]:
        """Invite `email` with `role` (and optionally project_id/project_role); accept as a new account."""
        r = admin.post(f"/api/orgs/{org_id}/invitations", json={"role": role, "email": email, **project})
        assert r.status_code == 201, r.text
        client = self.new()
        r = client.post("/api/invitations/accept", json={"token": r.json()["token"], "password": PASSWORD})
        assert r.status_code == 201, r.text
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return client, str(r.json()["user"]["id"])

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


def me(client: httpx.Client) -> dict[str, Any]:
    r = client.get("/api/auth/me")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def wait_for_trace(server: RunningServer, project: str, key: str, trace_id: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/v1/projects/{project}/traces/{trace_id}", headers=server.headers(key))
        if r.status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"trace {trace_id} not visible after 5 s")

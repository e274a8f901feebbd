"""Self-service through the API: the forced change of a printed password, changing one's own password, sign-ins
and failed sign-ins in the audit log, and the export of what the traces list's filters select."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow.parquet as pq
import pytest

from tests.e2e.accounts import PASSWORD, Browsers, me
from tests.e2e.server import RunningServer

NEW_PASSWORD = "a passphrase of my own"


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A first start whose printed password is left as it was printed, for the forced change's tests."""
    server = RunningServer(tmp_path_factory.mktemp("printed") / "data", keep_printed_password=True).start()
    yield server
    server.stop()


def _login(url: str, email: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/api/auth/login", json={"email": email, "password": password}, timeout=30)


def test_a_printed_password_allows_nothing_but_its_change_then_only_the_new_one_works(printed: RunningServer) -> None:
    web = Browsers(printed)
    email, first = printed.creds["admin_email"], printed.creds["admin_password"]
    try:
        other_device = web.login(email, first)
        admin = web.new()
        r = admin.post("/api/auth/login", json={"email": email, "password": first})
        assert r.json()["user"]["must_change_password"] is True
        admin.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        assert me(admin)["user"]["must_change_password"] is True  # the UI learns it from /me
        for method, path in (("GET", "/api/projects"), ("GET", f"/v1/projects/{printed.project}/traces"),
                             ("POST", "/api/projects")):  # fmt: skip
            refused = admin.request(method, path, json={"name": "x"} if method == "POST" else None)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["error"]["code"] == "password_change_required"
        # an API key is not a session: the printed key keeps working for ingest and queries
        assert httpx.get(f"{printed.url}/v1/projects/{printed.project}/traces", headers=printed.headers()).is_success
        same = admin.post("/api/auth/password", json={"current_password": first, "new_password": first})
        assert same.status_code == 400 and "differ" in same.json()["error"]["message"]
        r = admin.post("/api/auth/password", json={"current_password": first, "new_password": NEW_PASSWORD})
        assert r.status_code == 204, r.text
        assert me(admin)["user"]["must_change_password"] is False
        assert admin.get("/api/projects").status_code == 200
        assert other_device.get("/api/auth/me").status_code == 401  # the other sessions ended
        assert _login(printed.url, email, first).status_code == 401
        assert _login(printed.url, email, NEW_PASSWORD).json()["user"]["must_change_password"] is False
        printed.creds["admin_password"] = NEW_PASSWORD
    finally:
        web.close()


def test_a_password_set_by_the_operator_must_be_changed_at_the_next_sign_in(server: RunningServer) -> None:
    import subprocess
    import sys

    email, chosen = server.creds["admin_email"], "operator typed this one"
    cmd = [sys.executable, "-m", "lynex_box", "users", "reset-password", email, "--password-stdin",
           "--data-dir", str(server.data_dir)]  # fmt: skip
    subprocess.run(cmd, input=chosen + "\n", text=True, check=True, capture_output=True)
    r = _login(server.url, email, chosen)
    assert r.status_code == 200 and r.json()["user"]["must_change_password"] is True


def test_a_user_changes_their_password_and_the_old_one_stops_working(server: RunningServer) -> None:
    web = Browsers(server)
    try:
        admin = web.admin()
        org = me(admin)["orgs"][0]["id"]
        user, _ = web.invite(admin, org, "changer@example.test", "member")
        laptop = web.login("changer@example.test", PASSWORD)
        wrong = user.post("/api/auth/password", json={"current_password": "not it", "new_password": NEW_PASSWORD})
        assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "invalid_credentials"
        short = user.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "short"})
        assert short.status_code == 400 and short.json()["error"]["code"] == "weak_password"
        r = user.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        assert r.status_code == 204
        assert _login(server.url, "changer@example.test", PASSWORD).status_code == 401
        assert _login(server.url, "changer@example.test", NEW_PASSWORD).status_code == 200
        assert laptop.get("/api/auth/me").status_code == 401
        assert user.get("/api/auth/me").status_code == 200  # the session that changed it stays
    finally:
        web.close()


def test_sign_ins_and_failed_sign_ins_are_audited_with_address_and_browser_never_the_password(
    server: RunningServer,
) -> None:
    web = Browsers(server)
    try:
        admin = web.admin()
        org = me(admin)["orgs"][0]["id"]
        _, user_id = web.invite(admin, org, "audited@example.test", "viewer")
        agent = {"User-Agent": "SelfServiceTest/1.0"}
        bad = httpx.post(f"{server.url}/api/auth/login", headers=agent, timeout=30,
                         json={"email": "audited@example.test", "password": "guessed wrong 123"})  # fmt: skip
        assert bad.status_code == 401
        good = httpx.post(f"{server.url}/api/auth/login", headers=agent, timeout=30,
                          json={"email": "audited@example.test", "password": PASSWORD})  # fmt: skip
        assert good.status_code == 200
        failed = admin.get(f"/api/orgs/{org}/audit", params={"action": "login.failed"}).json()["items"]
        [entry] = [e for e in failed if e["target_id"] == user_id]
        assert entry["actor_label"] == "audited@example.test" and entry["ip"] == "127.0.0.1"
        assert entry["details"] == {"user_agent": "SelfServiceTest/1.0"}
        logins = admin.get(f"/api/orgs/{org}/audit", params={"action": "login"}).json()["items"]
        mine = [
            e for e in logins if e["target_id"] == user_id and e["details"].get("user_agent") == agent["User-Agent"]
        ]
        assert len(mine) == 1
        everything = admin.get(f"/api/orgs/{org}/audit", params={"limit": 500}).text
        assert "guessed wrong 123" not in everything and PASSWORD not in everything
    finally:
        web.close()


def _events(count: int) -> list[dict[str, Any]]:
    base = int(time.time() * 1000) - 60_000
    return [
        {
            "event_id": f"x-{i}",
            "trace_id": f"x-{i}",
            "span_id": f"x-{i}",
            "name": f"step {i}",
            "type": "llm",
            "model": "gpt-4o",
            "start_time": base + i * 1000,
            "end_time": base + i * 1000 + 500,
            "user_id": f"u{i % 3}",
            "status": "error" if i % 2 else "ok",
            "usage": {"input_tokens": 10 + i, "output_tokens": 5},
            "tags": ["a, b", 'quote"d'],
        }
        for i in range(count)
    ]


@pytest.fixture
def exporting(tmp_path: Path) -> Iterator[RunningServer]:
    srv = RunningServer(tmp_path / "data", env={"LYNEX_API_LIST_EXPORT_MAX_ROWS": "5"}).start()
    yield srv
    srv.stop()


def _list(server: RunningServer, **params: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/traces", headers=server.headers(), timeout=30,
                  params={"limit": "1000", **params})  # fmt: skip
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _export(server: RunningServer, fmt: str, **params: str) -> httpx.Response:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/export/traces", headers=server.headers(), timeout=30,
                  params={"format": fmt, **params})  # fmt: skip
    assert r.status_code == 200, r.text
    return r


def _csv_cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return "" if value is None else str(value)


def test_the_export_of_a_filtered_list_holds_the_list_s_rows_in_each_format(exporting: RunningServer) -> None:
    r = httpx.post(f"{exporting.url}/v1/projects/{exporting.project}/events", headers=exporting.headers(),
                   json={"events": _events(8)}, timeout=30)  # fmt: skip
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 10
    while len(_list(exporting)) < 8 and time.monotonic() < deadline:
        time.sleep(0.1)
    errors = _list(exporting, status="error")
    assert len(errors) == 4
    got = _export(exporting, "csv", status="error")
    assert got.headers["content-type"].startswith("text/csv") and got.headers["x-lynex-truncated"] == "false"
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert rows == [{k: _csv_cell(v) for k, v in item.items()} for item in errors]
    lines = [orjson.loads(line) for line in _export(exporting, "jsonl", status="error").text.splitlines()]
    assert lines == errors
    table = pq.read_table(io.BytesIO(_export(exporting, "parquet", status="error").content))
    assert table.column("trace_id").to_pylist() == [e["trace_id"] for e in errors]
    assert table.column("input_tokens").to_pylist() == [e["input_tokens"] for e in errors]
    # more than [api] list_export_max_rows match: the newest 5, and the header says the file is cut
    capped = _export(exporting, "jsonl")
    assert capped.headers["x-lynex-truncated"] == "true" and capped.headers["x-lynex-rows"] == "5"
    assert [orjson.loads(x)["trace_id"] for x in capped.text.splitlines()] == [t["trace_id"] for t in _list(exporting)][
        :5
    ]
    bad = httpx.get(f"{exporting.url}/v1/projects/{exporting.project}/export/traces", headers=exporting.headers(),
                    params={"format": "xlsx"}, timeout=30)  # fmt: skip
    assert bad.status_code == 400 and "format" in bad.json()["error"]["message"]
    with closing(httpx.Client(base_url=exporting.url, timeout=30)) as anonymous:
        assert anonymous.get(f"/v1/projects/{exporting.project}/export/traces").status_code == 401

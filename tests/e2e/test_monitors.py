"""Synthetic monitors end to end: a real server runs monitors against a real local app and a real OpenAI-compatible
endpoint, records each run as a trace read back through the traces API, and a linked alert rule notifies a real
webhook receiver when the app starts failing, within one period of the monitor.

The server runs with a 0.2 s monitors tick and 1 s minimum intervals, and may reach 127.0.0.1 only
(`[alerts] allowed_target_networks`, the policy monitors obey too).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.alerts.receiver import Receiver
from tests.e2e.accounts import Browsers, me
from tests.e2e.monitored_app import LocalServer
from tests.e2e.server import RunningServer

ENV = {
    "LYNEX_ALERTS_TICK_S": "0.2",
    "LYNEX_ALERTS_MIN_INTERVAL_S": "1",
    "LYNEX_ALERTS_DELIVERY_BACKOFF_S": "0.05",
    "LYNEX_ALERTS_ALLOWED_TARGET_NETWORKS": "127.0.0.1/32",
    "LYNEX_MONITORS_TICK_S": "0.2",
    "LYNEX_MONITORS_MIN_INTERVAL_S": "1",
}
SECRET_HEADER = "Bearer app-token-" + "z" * 12
MODEL_KEY = "sk-test-" + "k" * 20


@dataclass
class World:
    server: RunningServer
    web: Browsers
    admin: httpx.Client
    org: str
    app: LocalServer
    receiver: Receiver

    @property
    def monitors(self) -> str:
        return f"/api/projects/{self.server.project}/monitors"

    def create(self, **body: Any) -> dict[str, Any]:
        r = self.admin.post(self.monitors, json=body)
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    def http_monitor(self, name: str, path: str = "/health", **extra: Any) -> dict[str, Any]:
        target = {"type": "http", "method": "GET", "url": self.app.url + path,
                  "headers": {"Authorization": SECRET_HEADER}}  # fmt: skip
        return self.create(name=name, interval_s=3600, target=target, **extra)

    def trace(self, trace_id: str) -> dict[str, Any]:
        url = f"{self.server.url}/v1/projects/{self.server.project}/traces/{trace_id}"
        found: dict[str, Any] = _wait(
            lambda: (r := httpx.get(url, headers=self.server.headers())).is_success and r.json()
        )
        return found


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    app, receiver = LocalServer().start(), Receiver().start()
    server = RunningServer(tmp_path_factory.mktemp("monitors") / "data", env=ENV).start()
    web = Browsers(server)
    admin = web.admin()
    try:
        yield World(server, web, admin, me(admin)["orgs"][0]["id"], app, receiver)
    finally:
        web.close()
        server.stop()
        receiver.stop()
        app.stop()


def _wait(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def _root(trace: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in trace["spans"] if s["parent_span_id"] in (None, ""))


def test_http_runs_are_traces_whose_status_follows_the_assertions(w: World) -> None:
    name = f"health {secrets.token_hex(3)}"
    assertions = [
        {"type": "status", "equals": 200},
        {"type": "json_path", "path": "$.items[0].id", "equals": 7},
        {"type": "body_matches", "pattern": r'"status":\s*"ok"'},
        {"type": "latency", "max_ms": 5000},
    ]
    monitor = w.http_monitor(name, path=f"/health/{monitor_tag(name)}", assertions=assertions)
    assert monitor["target"]["header_names"] == ["Authorization"] and SECRET_HEADER not in str(monitor)
    w.app.failing = False
    run = w.admin.post(f"{w.monitors}/{monitor['id']}/run").json()
    assert run["ok"] is True and run["status_code"] == 200 and run["failed"] == [], run
    sent = w.app.requests_to(f"/health/{monitor_tag(name)}")[-1]
    assert sent.headers["authorization"] == SECRET_HEADER  # the sealed header reaches the app
    root = _root(w.trace(run["trace_id"]))
    assert root["name"] == f"synthetic {name}" and root["status"] == "ok"
    assert root["environment"] == "synthetic" and "synthetic" in root["tags"]
    marked = root["attributes"]["metadata"]["synthetic"]
    assert (marked["monitor_id"], marked["run_id"], marked["ok"]) == (monitor["id"], run["id"], True)
    assert [a["type"] for a in marked["assertions"]] == ["status", "json_path", "body_matches", "latency"]
    assert abs(root["duration_ms"] - run["latency_ms"]) < 5

    w.app.failing = True
    try:
        failed = w.admin.post(f"{w.monitors}/{monitor['id']}/run").json()
    finally:
        w.app.failing = False
    assert failed["ok"] is False and failed["status_code"] == 500
    assert {f["type"] for f in failed["failed"]} == {"status", "json_path", "body_matches"}
    root = _root(w.trace(failed["trace_id"]))
    assert root["status"] == "error" and "status 500" in root["status_message"]
    runs = w.admin.get(f"{w.monitors}/{monitor['id']}/runs").json()["items"]
    # newest first; the monitor's first scheduled run (a new monitor runs at once) is among them too
    assert runs[0]["trace_id"] == failed["trace_id"] and run["trace_id"] in {r["trace_id"] for r in runs}
    assert runs[0]["failed"] == failed["failed"] and runs[0]["manual"] is True
    listed = {m["id"]: m for m in w.admin.get(w.monitors).json()["items"]}
    assert listed[monitor["id"]]["last_run"]["ok"] is False


def monitor_tag(name: str) -> str:
    return name.replace(" ", "-")


def test_a_model_monitor_records_an_llm_span_with_tokens_and_cost(w: World) -> None:
    name = f"model {secrets.token_hex(3)}"
    target = {
        "type": "model", "base_url": w.app.url + "/v1", "model": "gpt-4o-mini", "api_key": MODEL_KEY,
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Capital of France? (run {{run_id}})"}],
    }  # fmt: skip
    assertions = [{"type": "answer_contains", "value": "Paris"}, {"type": "answer_matches", "pattern": "^The"}]
    monitor = w.create(name=name, interval_s=3600, target=target, assertions=assertions)
    assert monitor["target"]["api_key_set"] is True and MODEL_KEY not in str(monitor)
    run = w.admin.post(f"{w.monitors}/{monitor['id']}/run").json()
    assert run["ok"] is True, run
    assert w.app.requests_to("/v1/chat/completions")[-1].headers["authorization"] == f"Bearer {MODEL_KEY}"
    # the prompt template was expanded (the monitor's first scheduled run also asked: a new monitor runs at once)
    assert any(f"(run {run['id']})" in s.body.decode() for s in w.app.requests_to("/v1/chat/completions"))
    trace = w.trace(run["trace_id"])
    llm = next(s for s in trace["spans"] if s["kind"] == "llm")
    assert llm["model"] == "gpt-4o-mini" and (llm["input_tokens"], llm["output_tokens"]) == (21, 9)
    assert llm["total_cost"] and llm["total_cost"] > 0  # priced like any LLM call
    assert "Paris" in str(llm["output"])
    w.app.answer = "Lyon."
    try:
        wrong = w.admin.post(f"{w.monitors}/{monitor['id']}/run").json()
    finally:
        w.app.answer = "The capital of France is Paris."
    assert wrong["ok"] is False and {f["type"] for f in wrong["failed"]} == {"answer_contains", "answer_matches"}


def test_an_app_that_starts_failing_fires_the_linked_alert_within_one_period(w: World) -> None:
    period = 4
    hook = f"/hook/{secrets.token_hex(4)}"
    name = f"checkout {secrets.token_hex(3)}"
    target = {"type": "http", "method": "GET", "url": f"{w.app.url}/checkout/{monitor_tag(name)}"}
    alert = {"on_failure": True, "latency_ms": 10_000, "channels": [{"type": "webhook", "url": w.receiver.url + hook}]}
    w.app.failing = False
    monitor = w.create(name=name, interval_s=period, target=target, alert=alert)
    assert len(monitor["rule_ids"]) == 2
    rules = {r["id"]: r for r in w.admin.get(f"/api/projects/{w.server.project}/alerts/rules").json()["items"]}
    failing = rules[monitor["rule_ids"][0]]
    assert (failing["metric"], failing["threshold"], failing["filters"]) == (
        "error_count",
        0,
        {"name": f"synthetic {name}"},
    )
    assert (failing["window_s"], failing["interval_s"]) == (period, period)
    get = lambda: w.admin.get(f"{w.monitors}/{monitor['id']}").json()  # noqa: E731
    _wait(lambda: (get()["last_run"] or {}).get("ok") is True)  # the scheduled runs pass
    w.app.failing = True
    try:
        started = time.monotonic()
        fired = w.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.firing", timeout=period + 10)
        elapsed = time.monotonic() - started
    finally:
        w.app.failing = False
    assert fired.json()["rule"]["id"] == monitor["rule_ids"][0]
    # the next scheduled run (at most one period later) fails and its rule is evaluated at once; the slack is for
    # a loaded 2-core machine (pipeline, query and delivery)
    assert elapsed < period + 3, elapsed
    w.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.resolved", timeout=3 * period + 10)
    r = w.admin.delete(f"{w.monitors}/{monitor['id']}")
    assert r.status_code == 204
    left = {r["id"] for r in w.admin.get(f"/api/projects/{w.server.project}/alerts/rules").json()["items"]}
    assert not left & set(monitor["rule_ids"])  # the linked rules went with the monitor


def test_patch_keeps_secrets_and_renames_the_linked_rules(w: World) -> None:
    name = f"patch {secrets.token_hex(3)}"
    monitor = w.http_monitor(name, path="/patch", alert={"channels": []})
    renamed = f"{name} v2"
    r = w.admin.patch(f"{w.monitors}/{monitor['id']}", json={"name": renamed, "interval_s": 120})
    assert r.status_code == 200, r.text
    rule = w.admin.get(f"/api/projects/{w.server.project}/alerts/rules/{monitor['rule_ids'][0]}").json()
    assert rule["filters"] == {"name": f"synthetic {renamed}"} and rule["window_s"] == 120
    r = w.admin.patch(f"{w.monitors}/{monitor['id']}", json={"target": {"type": "http", "url": w.app.url + "/patch2"}})
    assert r.status_code == 200, r.text
    w.admin.post(f"{w.monitors}/{monitor['id']}/run")
    assert w.app.requests_to("/patch2")[-1].headers["authorization"] == SECRET_HEADER  # kept
    r = w.admin.patch(f"{w.monitors}/{monitor['id']}", json={"alert": None})
    assert r.json()["rule_ids"] == []


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"name": "x"}, 400, "bad_monitor", "target must be an object"),
        ({"name": "x", "target": {"type": "ftp"}}, 400, "bad_monitor", "target.type must be http"),
        ({"name": "x", "target": {"type": "http", "url": "http://169.254.169.254/"}}, 400, "bad_monitor", "refused"),
        ({"name": "x", "target": {"type": "http", "url": "file:///etc/passwd"}}, 400, "bad_monitor", "http://"),
        ({"name": "x", "interval_s": 0, "target": {"type": "http", "url": "http://127.0.0.1/"}}, 400, "bad_monitor",
         "interval_s"),
        ({"name": "x", "timeout_s": 999, "target": {"type": "http", "url": "http://127.0.0.1/"}}, 400, "bad_monitor",
         "timeout_s"),
        ({"name": "x", "cron": "every day", "target": {"type": "http", "url": "http://127.0.0.1/"}}, 400,
         "bad_monitor", "cron"),
        ({"name": "x", "target": {"type": "http", "url": "http://127.0.0.1/"},
          "assertions": [{"type": "detector_score"}]}, 400, "bad_monitor", "not available yet"),
        ({"name": "x", "target": {"type": "http", "url": "http://127.0.0.1/"},
          "alert": {"channels": [{"type": "webhook", "url": "http://10.0.0.1/"}]}}, 400, "bad_monitor", "refused"),
        ({"name": "x", "bogus": 1, "target": {"type": "http", "url": "http://127.0.0.1/"}}, 400, "bad_monitor",
         "unknown fields"),
    ],
)  # fmt: skip
def test_bad_monitors_get_a_400_naming_the_field(w: World, body: Any, status: int, code: str, message: str) -> None:
    r = w.admin.post(w.monitors, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and message in r.json()["error"]["message"], r.text


def test_other_bad_requests_get_json_errors(w: World) -> None:
    assert w.admin.post(w.monitors, content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    big = {"name": "x", "target": {"type": "http", "url": "http://127.0.0.1/", "body": "y" * 70_000}}
    once = w.web.admin()  # the 413 answer closes its connection: a client of its own
    r = once.post(w.monitors, json=big)
    assert r.status_code == 413 and "65536" in r.json()["error"]["message"], r.text
    assert w.admin.get(f"{w.monitors}/mon_0000").json()["error"]["code"] == "not_found"
    assert w.admin.post(f"{w.monitors}/mon_0000/run").status_code == 404
    monitor = w.http_monitor(f"dup {secrets.token_hex(3)}")
    again = w.admin.post(w.monitors, json={"name": monitor["name"], "target": {"type": "http", "url": w.app.url}})
    assert again.status_code == 409 and again.json()["error"]["code"] == "name_taken"
    assert w.admin.get(f"{w.monitors}/{monitor['id']}/runs?limit=0").status_code == 400


def test_another_project_cannot_see_or_run_a_monitor_and_a_viewer_only_reads(w: World) -> None:
    monitor = w.http_monitor(f"tenancy {secrets.token_hex(3)}")
    org_b = w.admin.post("/api/orgs", json={"name": f"other {secrets.token_hex(3)}"}).json()["id"]
    other = w.admin.post("/api/projects", json={"org_id": org_b, "name": "other"}).json()["project_id"]
    elsewhere = f"/api/projects/{other}/monitors/{monitor['id']}"
    assert w.admin.get(elsewhere).status_code == 404
    assert w.admin.post(f"{elsewhere}/run").status_code == 404
    assert w.admin.delete(elsewhere).status_code == 404
    assert w.admin.get(f"/api/projects/{other}/monitors").json()["items"] == []
    viewer, _ = w.web.invite(w.admin, w.org, f"viewer-{secrets.token_hex(3)}@example.test", "viewer")
    assert viewer.get(f"{w.monitors}/{monitor['id']}").status_code == 200
    assert viewer.post(f"{w.monitors}/{monitor['id']}/run").status_code == 403
    assert viewer.post(w.monitors, json={"name": "v", "target": {"type": "http", "url": w.app.url}}).status_code == 403
    stranger, _ = w.web.invite(w.admin, org_b, f"b-{secrets.token_hex(3)}@example.test", "owner")
    assert stranger.get(f"{w.monitors}/{monitor['id']}").status_code == 404


def _cli(w: World, *args: str, ok: bool = True) -> Any:
    common = ["--project", w.server.project, "--url", w.server.url, "--json"]
    env = {**os.environ, "LYNEX_API_KEY": str(w.server.creds["api_key"])}
    out = subprocess.run([sys.executable, "-m", "lynex_box", "monitors", *args, *common], capture_output=True,
                         text=True, env=env, timeout=120)  # fmt: skip
    assert (out.returncode == 0) == ok, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else out.stderr


def test_the_cli_creates_lists_runs_and_deletes_a_monitor(w: World) -> None:
    name = f"cli {secrets.token_hex(3)}"
    created = _cli(w, "create", "--name", name, "--http-url", f"{w.app.url}/cli", "--interval", "3600",
                   "--assert", '{"type": "status", "equals": 200}')  # fmt: skip
    assert created["name"] == name and created["assertions"] == [{"type": "status", "equals": 200}]
    assert name in {m["name"] for m in _cli(w, "list")}
    run = _cli(w, "run", created["id"])
    assert run["ok"] is True and run["status_code"] == 200
    w.app.failing = True
    try:
        assert _cli(w, "run", created["id"], ok=False)["ok"] is False  # a failed run exits 1
    finally:
        w.app.failing = False
    refused = _cli(w, "create", "--name", "x", "--http-url", "http://169.254.169.254/", ok=False)
    assert "HTTP 400 bad_monitor" in refused and "refused" in refused
    assert _cli(w, "delete", created["id"]) == {"deleted": created["id"]}
    assert name not in {m["name"] for m in _cli(w, "list")}

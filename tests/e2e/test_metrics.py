"""GET /metrics on a real server: Prometheus' parser reads it, its counters move as data flows, `[metrics] allow`
admits and refuses as documented, and the shipped Grafana dashboard and Prometheus alert rules name only metrics it
exposes."""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer
from tests.e2e.test_ingest_query import make_trace

ROOT = Path(__file__).resolve().parents[2]
EVENTS_ROUTE = "/v1/projects/{project_id}/events"
TRACES_ROUTE = "/v1/projects/{project_id}/traces"
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def scrape(server: RunningServer, **kw: Any) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/metrics", timeout=10, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(r.text)}


def value(families: dict[str, Any], name: str, sample: str | None = None, **labels: str) -> float:
    """The sum of `name`'s samples (`sample`: a sample name such as `x_count`) whose labels include `labels`."""
    family = families[name]
    return sum(
        s.value
        for s in family.samples
        if s.name == (sample or s.name) and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_counters_move_as_data_flows(server: RunningServer) -> None:
    before = scrape(server)
    for name in ("lynex_wal_backlog_bytes", "lynex_wal_backlog_age_seconds", "lynex_head_rows",
                 "lynex_disk_free_bytes", "lynex_pool_workers", "lynex_http_requests",
                 "lynex_http_request_duration_seconds", "lynex_spans_stored",
                 "process_resident_memory_bytes", "lynex_duckdb_memory_bytes", "lynex_up",
                 "lynex_alert_evaluations"):  # fmt: skip
        assert name in before, name
    assert value(before, "lynex_up") == 1
    # from loopback, but passed on by a local reverse proxy (a forwarding header): not admitted as loopback
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        r = httpx.get(f"{server.url}/metrics", headers={header: "203.0.113.9"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", (header, r.text)
    assert value(before, "lynex_disk_free_bytes") > 0
    trace_id = f"m-{uuid.uuid4().hex[:8]}"
    r = httpx.post(f"{server.url}/v1/projects/{server.project}/events", json={"events": make_trace(trace_id)},
                   headers=server.headers())  # fmt: skip
    assert r.status_code in (200, 202), r.text
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/v1/projects/{server.project}/traces/{trace_id}",
                    headers=server.headers()).status_code != 200:  # fmt: skip
        assert time.monotonic() < deadline, "the trace never became queryable"
        time.sleep(0.05)
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/traces", headers=server.headers())
    assert r.status_code == 200, r.text
    bad = httpx.post(f"{server.url}/v1/projects/{server.project}/events", content=b"{not json",
                     headers={**server.headers(), "content-type": "application/json"})  # fmt: skip
    assert bad.status_code == 400, bad.text
    httpx.get(f"{server.url}/no-such-route-{uuid.uuid4().hex}")
    httpx.request(f"X{uuid.uuid4().hex[:8].upper()}", f"{server.url}/healthz")  # an invented method
    after = scrape(server)

    assert value(after, "lynex_spans_stored") - value(before, "lynex_spans_stored") == len(make_trace(trace_id))
    ok = {"route": EVENTS_ROUTE, "method": "POST"}  # the accepted batch and the refused one
    assert value(after, "lynex_http_requests", **ok) - value(before, "lynex_http_requests", **ok) == 2
    queried = value(after, "lynex_http_request_duration_seconds", "lynex_http_request_duration_seconds_count",
                    route=TRACES_ROUTE, method="GET")  # fmt: skip
    assert queried == 1
    code = json.loads(bad.text)["error"]["code"]
    assert value(after, "lynex_http_errors", route=EVENTS_ROUTE, status="400", code=code) == 1
    # raw paths never become label values: the unknown path is counted under one bounded label
    labels = {v for s in after["lynex_http_requests"].samples for v in s.labels.values()}
    assert not any("no-such-route" in label or label.startswith("X") for label in labels)
    assert value(after, "lynex_http_requests", route="/healthz", method="other") == 1
    assert value(after, "lynex_http_requests", route="unmatched", status="404") >= 1
    # the scheduled jobs are timed (the flusher is a task; alerts tick every [alerts] tick_s = 5 s by default)
    assert "lynex_job_runs" in after


def _outbound_address() -> str | None:
    """An address of this machine that is not loopback, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route's source address
            address = str(sock.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_loopback_rule_refuses_other_addresses(tmp_path: Path) -> None:
    address = _outbound_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    srv = RunningServer(tmp_path / "data", env={"LYNEX_SERVER_HOST": "0.0.0.0"}).start()
    try:
        assert httpx.get(f"{srv.url}/metrics").status_code == 200  # from 127.0.0.1
        r = httpx.get(f"http://{address}:{srv.port}/metrics")
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "unauthorized"
        admin = Browsers(srv)
        try:  # an org owner's session is admitted from anywhere
            owner = admin.admin()
            cookie = "; ".join(f"{c.name}={c.value}" for c in owner.cookies.jar)
            r = httpx.get(f"http://{address}:{srv.port}/metrics", headers={"Cookie": cookie})
            assert r.status_code == 200, r.text
        finally:
            admin.close()
    finally:
        srv.stop()


def test_admin_rule_and_token(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    token_file = tmp_path / "metrics-token"
    token_file.write_text(token + "\n")
    env = {"LYNEX_METRICS_ALLOW": "admin", "LYNEX_METRICS_TOKEN_FILE": str(token_file)}
    srv = RunningServer(tmp_path / "data", env=env).start()
    browsers = Browsers(srv)
    try:
        r = httpx.get(f"{srv.url}/metrics")  # loopback is not enough under "admin"
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
        r = httpx.get(f"{srv.url}/metrics", headers=srv.headers())  # a project's API key
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
        r = httpx.get(f"{srv.url}/metrics", headers={"Authorization": "Bearer " + token[:-1] + "x"})
        assert r.status_code == 403, r.text
        assert "lynex_up" in scrape(srv, headers={"Authorization": f"Bearer {token}"})
        owner = browsers.admin()
        r = owner.get("/metrics")
        assert r.status_code == 200, r.text
    finally:
        browsers.close()
        srv.stop()


def test_disabled_answers_404(tmp_path: Path) -> None:
    srv = RunningServer(tmp_path / "data", env={"LYNEX_METRICS_ENABLED": "false"}).start()
    try:
        r = httpx.get(f"{srv.url}/metrics")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    finally:
        srv.stop()


def _exposed(families: dict[str, Any]) -> set[str]:
    names = set(families)
    for family in families.values():
        names.update(sample.name for sample in family.samples)
    return names


def _known(name: str, exposed: set[str]) -> bool:
    if name in exposed:
        return True
    return any(name.endswith(suffix) and name[: -len(suffix)] in exposed for suffix in SUFFIXES)


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:lynex|process)_[a-z0-9_]+)", expr))


def _dashboard_exprs() -> list[str]:
    board = json.loads((ROOT / "packaging/grafana/lynex-box.json").read_text())
    exprs = [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
    exprs += [v.get("query", "") if isinstance(v.get("query"), str) else v["query"].get("query", "")
              for v in board.get("templating", {}).get("list", []) if "query" in v]  # fmt: skip
    return exprs


def _alert_exprs() -> list[str]:
    rules = yaml.safe_load((ROOT / "packaging/prometheus/alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_dashboard_and_alert_rules_name_only_exposed_metrics(server: RunningServer) -> None:
    # make the labelled families hold samples: one request, one error
    httpx.get(f"{server.url}/v1/projects/{server.project}/traces", headers=server.headers())
    httpx.get(f"{server.url}/v1/projects/{server.project}/traces")
    exposed = _exposed(scrape(server))
    for source, exprs in (("grafana", _dashboard_exprs()), ("alerts", _alert_exprs())):
        assert exprs, source
        named = set().union(*(_metric_names(expr) for expr in exprs))
        assert named, source
        unknown = sorted(name for name in named if not _known(name, exposed))
        assert not unknown, f"{source} names metrics /metrics does not expose: {unknown}"

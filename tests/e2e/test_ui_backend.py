"""What the web UI needs from the server: the bundle under /ui, the prompts API, lazy trace loading, top-N metrics."""

from __future__ import annotations

import re
import time

import httpx

from tests.e2e.server import RunningServer


def _ingest(server: RunningServer, events: list[dict[str, object]]) -> None:
    r = httpx.post(
        f"{server.url}/v1/projects/{server.project}/events", json={"events": events}, headers=server.headers()
    )
    assert r.status_code == 202 and r.json()["rejected"] == [], r.text


def _wait_for(server: RunningServer, count: int) -> None:
    for _ in range(200):
        r = httpx.get(f"{server.url}/v1/projects/{server.project}/metrics", headers=server.headers())
        series = r.json()["series"]
        if series and series[0]["points"][0]["count"] == count:
            return
        time.sleep(0.05)
    raise AssertionError(f"expected {count} spans, got {r.text}")


def test_ui_is_served_with_its_assets_and_spa_fallback(server: RunningServer) -> None:
    root = httpx.get(server.url + "/")
    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    page = httpx.get(server.url + "/ui/traces/some-trace?x=1")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (
        page.headers["cache-control"] == "no-cache" and "default-src 'self'" in page.headers["content-security-policy"]
    )
    asset = re.search(r'src="(/ui/assets/[^"]+\.js)"', page.text)
    assert asset is not None
    js = httpx.get(server.url + asset.group(1))
    assert js.status_code == 200 and "immutable" in js.headers["cache-control"]
    assert httpx.get(server.url + "/ui/assets/missing.js").status_code == 404
    escape = httpx.get(server.url + "/ui/..%2f..%2fapp.py")
    assert escape.status_code == 200 and "create_app" not in escape.text
    invite = httpx.get(server.url + "/invite")
    assert invite.status_code == 307 and invite.headers["location"] == "/ui/invite"
    # API paths are not taken by the UI
    assert httpx.get(server.url + "/v1/projects/x/nothing").status_code == 404


def test_prompts_register_list_versions_and_metrics(server: RunningServer) -> None:
    base = f"{server.url}/v1/projects/{server.project}/prompts"
    h = server.headers()
    r1 = httpx.post(base, json={"name": "qa/support", "template": "Be brief."}, headers=h)
    assert r1.status_code == 201 and r1.json()["version"] == "1", r1.text
    assert (
        httpx.post(base, json={"name": "qa/support", "template": "Be brief.", "version": "1"}, headers=h).status_code
        == 200
    )
    conflict = httpx.post(base, json={"name": "qa/support", "template": "Other", "version": "1"}, headers=h)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    assert (
        httpx.post(base, json={"name": "qa/support", "template": "Be brief.\nCite."}, headers=h).json()["version"]
        == "2"
    )
    assert httpx.post(base, json={"template": "x"}, headers=h).status_code == 400
    assert httpx.post(base, content=b"not json", headers=h).status_code == 400
    _ingest(server, [
        {"trace_id": f"t{i}", "name": "llm", "type": "llm", "prompt": {"name": "qa/support", "version": v},
         "status": "error" if i == 0 else "ok", "cost": {"total": 0.5}}
        for i, v in enumerate([1, 1, 3])
    ])  # fmt: skip
    _wait_for(server, 3)
    items = httpx.get(base, headers=h).json()["items"]
    assert [(i["version"], i["count"], i["registered"]) for i in items] == [
        ("1", 2, True),
        ("2", 0, True),
        ("3", 1, False),
    ]
    assert items[0]["error_rate"] == 0.5 and items[0]["total_cost"] == 1.0
    versions = httpx.get(f"{base}/qa%2Fsupport/versions", headers=h).json()
    assert versions["name"] == "qa/support"
    assert [i.get("template") for i in versions["items"]] == ["Be brief.", "Be brief.\nCite.", None]
    assert httpx.get(f"{base}/nope/versions", headers=h).status_code == 404
    assert httpx.get(base).status_code == 401


def test_prompts_of_a_project_are_invisible_to_another_projects_key(server: RunningServer) -> None:
    other = server.cli("projects", "create", "other")
    key = server.cli("keys", "create", "--project", other["project_id"])["api_key"]
    base = f"{server.url}/v1/projects/{server.project}/prompts"
    deadline = time.monotonic() + 10  # the server learns of a new key within its key refresh interval
    own = f"{server.url}/v1/projects/{other['project_id']}/prompts"
    while httpx.get(own, headers=server.headers(key)).status_code == 401:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert httpx.get(base, headers=server.headers(key)).status_code == 403
    assert httpx.post(base, json={"name": "x", "template": "t"}, headers=server.headers(key)).status_code == 403


def test_trace_outline_and_one_span(server: RunningServer) -> None:
    _ingest(server, [
        {"trace_id": "tr", "span_id": "root", "name": "agent", "type": "agent", "start_time": "2026-11-27T10:00:00Z",
         "end_time": "2026-11-27T10:00:02Z"},
        {"trace_id": "tr", "span_id": "call", "parent_span_id": "root", "name": "chat", "type": "llm",
         "model": "gpt-4o", "start_time": "2026-11-27T10:00:00.5Z", "end_time": "2026-11-27T10:00:01Z",
         "input": [{"role": "user", "content": "hi"}], "output": "hello",
         "tool_calls": [{"id": "c1", "name": "f", "arguments": "{}"}]},
    ])  # fmt: skip
    _wait_for(server, 2)
    base = f"{server.url}/v1/projects/{server.project}/traces/tr"
    outline = httpx.get(f"{base}/outline", headers=server.headers()).json()["spans"]
    assert [s["span_id"] for s in outline] == ["root", "call"]
    assert "input" not in outline[1] and "parent_span_id" not in outline[0]  # heavy and null values are left out
    assert outline[1]["tool_calls"] == [{"id": "c1", "name": "f", "arguments": "{}"}]
    span = httpx.get(f"{base}/spans/call", headers=server.headers()).json()
    assert span["input"] == {"messages": [{"role": "user", "content": "hi"}]} and span["model"] == "gpt-4o"
    assert httpx.get(f"{base}/spans/nope", headers=server.headers()).status_code == 404
    assert (
        httpx.get(
            f"{server.url}/v1/projects/{server.project}/traces/nope/outline", headers=server.headers()
        ).status_code
        == 404
    )
    assert httpx.get(f"{base}/outline").status_code == 401


def test_metrics_top_keeps_the_costliest_groups(server: RunningServer) -> None:
    _ingest(server, [
        {"trace_id": f"m{i}", "name": "x", "user_id": user, "cost": {"total": cost},
         "start_time": f"2026-11-27T10:0{i}:00Z"}
        for i, (user, cost) in enumerate([("a", 1.0), ("b", 5.0), ("b", 1.0), ("c", 2.0), ("d", 0.1)])
    ])  # fmt: skip
    _wait_for(server, 5)
    url = f"{server.url}/v1/projects/{server.project}/metrics"
    top = httpx.get(url, params={"group_by": "user_id", "top": 2}, headers=server.headers()).json()["series"]
    assert [s["group"] for s in top] == ["b", "c"]
    by_count = httpx.get(url, params={"group_by": "user_id", "top": 1, "top_by": "count"}, headers=server.headers())
    assert [s["group"] for s in by_count.json()["series"]] == ["b"]
    timed = httpx.get(url, params={"group_by": "user_id", "top": 1, "interval": "1m"}, headers=server.headers()).json()
    assert [(s["group"], len(s["points"])) for s in timed["series"]] == [("b", 2)]
    bad = httpx.get(url, params={"top": 0}, headers=server.headers())
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_top"
    assert httpx.get(url, params={"top": 1, "top_by": "name"}, headers=server.headers()).status_code == 400

"""The traces list's filter builder over the API: repeated values (any of them), attribute and metadata conditions,
prompt name and version, scores, several tags; 400s that name the bad parameter; the attribute keys suggested;
and each user's saved views, which no other user (same project or another org) can see or delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.accounts import Browsers, me
from tests.e2e.server import RunningServer


def _event(trace: str, model: str, env: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": trace, "trace_id": trace, "span_id": trace, "name": "call", "type": "llm", "model": model,
            "environment": env, "start_time": "2026-01-01T00:00:00Z", **extra}  # fmt: skip


EVENTS = [
    _event("t1", "gpt-4o", "prod", tags=["a"], metadata={"plan": "pro", "region": "eu-west"},
           prompt={"name": "support", "version": "1"}),
    _event("t2", "claude", "staging", tags=["b"], metadata={"plan": "free"}, prompt={"name": "support", "version": "2"},
           status="error", error={"type": "TimeoutError", "message": "slow"}),
    _event("t3", "gemini", "dev"),
]  # fmt: skip
SCORES = [
    {"trace_id": "t1", "name": "accuracy", "value": 0.9},
    {"trace_id": "t2", "name": "accuracy", "value": 0.2},
    {"trace_id": "t3", "name": "label", "value": "good"},
]


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(tmp_path_factory.mktemp("filters") / "data").start()
    base = f"{server.url}/v1/projects/{server.project}"
    r = httpx.post(f"{base}/events", json={"events": EVENTS}, headers=server.headers())
    assert r.status_code == 202 and r.json()["rejected"] == [], r.text
    r = httpx.post(f"{base}/scores", json={"scores": SCORES}, headers=server.headers())
    assert r.status_code == 202 and r.json()["accepted"] == 3, r.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        scored = httpx.get(f"{base}/scores", headers=server.headers()).json()["items"]
        if len(_traces(server, {})) == 3 and len(scored) == 3:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("seeded traces and scores did not become readable")
    yield server
    server.stop()


def _get(server: RunningServer, path: str, params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/projects/{server.project}{path}", params=params, headers=server.headers())


def _traces(server: RunningServer, params: Any) -> set[str]:
    r = _get(server, "/traces", {"from": "2025-01-01T00:00:00Z", **dict(params)} if isinstance(params, dict) else
             [("from", "2025-01-01T00:00:00Z"), *params])  # fmt: skip
    assert r.status_code == 200, r.text
    return {t["trace_id"] for t in r.json()["items"]}


@pytest.mark.parametrize(
    ("params", "want"),
    [
        ([("model", "gpt-4o"), ("model", "claude")], {"t1", "t2"}),
        ([("status", "ok"), ("status", "error")], {"t1", "t2", "t3"}),
        ([("environment", "prod"), ("environment", "dev"), ("model", "gemini")], {"t3"}),
        ([("tag", "a"), ("tag", "b")], {"t1", "t2"}),
        ([("tag", "a")], {"t1"}),
        ([("meta", "plan:eq:pro")], {"t1"}),
        ([("meta", "plan:ne:pro")], {"t2"}),
        ([("meta", "plan:exists")], {"t1", "t2"}),
        ([("meta", "region:contains:WEST")], {"t1"}),
        ([("meta", "plan:exists"), ("meta", "region:exists")], {"t1"}),
        ([("attr", "error.type:eq:TimeoutError")], {"t2"}),
        ([("meta", "plan:eq:x' OR 1=1 --")], set()),
        ([("prompt_name", "support"), ("prompt_version", "2")], {"t2"}),
        ([("score", "accuracy:gte:0.5")], {"t1"}),
        ([("score", "accuracy:lt:0.5"), ("score", "accuracy:gt:0.1")], {"t2"}),
        ([("score", "label:eq:good")], {"t3"}),
        ([("score", "accuracy:gte:0.5"), ("model", "claude")], set()),
        ([("score", "nothing:eq:1")], set()),
    ],
)
def test_filters_select_the_matching_traces(box: RunningServer, params: list[tuple[str, str]], want: set[str]) -> None:
    assert _traces(box, params) == want


def test_metrics_and_spans_follow_the_same_filters(box: RunningServer) -> None:
    params = [("from", "2025-01-01T00:00:00Z"), ("score", "accuracy:gte:0.1"), ("meta", "plan:exists")]
    series = _get(box, "/metrics", params).json()["series"]
    assert series[0]["points"][0]["count"] == 2
    spans = _get(box, "/spans", [*params, ("model", "claude"), ("model", "gemini")]).json()["items"]
    assert [s["trace_id"] for s in spans] == ["t2"]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ([("attr", 'bad"key:eq:x')], "attr key"),
        ([("attr", "k:like:x")], "op 'like'"),
        ([("meta", "plan:eq")], "needs a value"),
        ([("score", "accuracy:gt:high")], "needs a number"),
        ([("score", "accuracy:between:1")], "op 'between'"),
        ([("attr", f"k{i}:exists") for i in range(21)], "more than 20"),
        ([("model", "m")] * 51, "at most 50 values"),
    ],
)
def test_bad_filters_get_a_400_naming_them(box: RunningServer, params: list[tuple[str, str]], names: str) -> None:
    r = _get(box, "/traces", params)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "bad_filter" and names in r.json()["error"]["message"]


def test_attribute_keys_are_suggested_from_the_data(box: RunningServer) -> None:
    r = _get(box, "/attribute-keys", {"from": "2025-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    meta = {k["key"]: k["count"] for k in r.json()["metadata"]}
    assert meta == {"plan": 2, "region": 1}
    assert [k["key"] for k in r.json()["attributes"]] == ["error.type"]


def test_saved_views_belong_to_one_user_of_one_project(box: RunningServer) -> None:
    web = Browsers(box)
    try:
        owner = web.admin()
        org = me(owner)["orgs"][0]["id"]
        views = f"/api/projects/{box.project}/views"
        r = owner.post(views, json={"name": "errors in prod", "query": "?status=error&environment=prod"})
        assert r.status_code == 201, r.text
        view = r.json()["view"]
        assert (view["name"], view["page"], view["query"]) == (
            "errors in prod",
            "traces",
            "status=error&environment=prod",
        )
        # saving under the same name replaces the query
        r = owner.post(views, json={"name": "errors in prod", "query": "status=error"})
        assert r.status_code == 201 and r.json()["view"]["id"] == view["id"]
        assert [(v["id"], v["query"]) for v in owner.get(views).json()["items"]] == [(view["id"], "status=error")]

        # a member of the same project sees none of them and cannot delete them
        member, _ = web.invite(owner, org, "colleague@example.test", "member")
        assert member.get(views).json()["items"] == []
        assert member.delete(f"{views}/{view['id']}").status_code == 404
        r = member.post(views, json={"name": "mine", "query": "model=gpt-4o"})
        assert r.status_code == 201
        assert [v["name"] for v in owner.get(views).json()["items"]] == ["errors in prod"]
        # an owner of another org cannot reach the project at all
        other_org = owner.post("/api/orgs", json={"name": "Other"}).json()["id"]
        stranger, _ = web.invite(owner, other_org, "stranger@example.test", "owner")
        assert stranger.get(views).status_code == 404
        assert stranger.delete(f"{views}/{view['id']}").status_code == 404
        # an API key has no user
        r = httpx.get(f"{box.url}{views}", headers=box.headers())
        assert r.status_code == 403 and "sign in" in r.json()["error"]["message"]
        # bad input
        assert owner.post(views, json={"name": " ", "query": "x"}).status_code == 400
        assert owner.post(views, json={"name": "x", "query": "x", "page": "nope"}).status_code == 400
        assert owner.post(views, json={"name": "x", "query": "q" * 9000}).status_code == 400
        # the owner deletes it; it is gone, the colleague's stays
        assert owner.delete(f"{views}/{view['id']}").status_code == 204
        assert owner.get(views).json()["items"] == []
        assert [v["name"] for v in member.get(views).json()["items"]] == ["mine"]
    finally:
        web.close()

"""Langfuse compatibility end to end: the official SDKs (v5 in process, v3 in a subprocess) and the legacy
ingestion batch against the real server, changing nothing but base URL and keys; values read back through
our API."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.server import RunningServer

V3_VERSION = "3.15.0"
# Legacy events carry their own times: yesterday's, so that retention (30 days by default) keeps them.
DAY = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%d")


def basic(public: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{public}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def langfuse_headers(server: RunningServer) -> dict[str, str]:
    return basic(server.project, server.creds["api_key"])


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def get_trace(server: RunningServer, trace_id: str, spans: int, scores: int = 0) -> dict[str, Any]:
    """The trace once it has `spans` spans and `scores` scores (the pipeline stores after the answer)."""
    url = f"{server.url}/v1/projects/{server.project}/traces/{trace_id}"

    def check() -> dict[str, Any] | None:
        r = httpx.get(url, headers=server.headers())
        if r.status_code != 200:
            return None
        doc = dict(r.json())
        return doc if len(doc["spans"]) >= spans and len(doc["scores"]) >= scores else None

    doc = wait_for(check)
    assert doc, f"trace {trace_id} did not get {spans} spans and {scores} scores"
    return dict(doc)


def by_name(doc: dict[str, Any], key: str = "spans") -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in doc[key]}


def test_the_official_v5_sdk_sends_traces_generations_and_scores(server: RunningServer) -> None:
    from langfuse import Langfuse, propagate_attributes

    client = Langfuse(
        public_key=server.project, secret_key=server.creds["api_key"], base_url=server.url, flush_interval=0.1
    )
    assert client.auth_check()
    with client.start_as_current_observation(name="answer-question", as_type="span", input={"q": "order?"}) as root:
        with propagate_attributes(user_id="user-5", session_id="session-5", tags=["beta"]):
            with root.start_as_current_observation(
                name="draft",
                as_type="generation",
                model="gpt-4o",
                input=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my order?"}],
                model_parameters={"temperature": 0.2},
            ) as drafted:
                drafted.update(
                    output={"role": "assistant", "content": "On its way."},
                    usage_details={"input": 1000, "output": 200},
                    cost_details={"total": 0.5},
                )
            with root.start_as_current_observation(name="polish", as_type="generation", model="gpt-4o-mini") as pol:
                pol.update(usage_details={"prompt_tokens": 100, "completion_tokens": 20}, output="Shipped.")
        root.update(output="On its way.")
        root.score_trace(name="helpfulness", value=0.9, comment="clear")
        trace_id, root_id, draft_id = root.trace_id, root.id, drafted.id
    client.create_score(name="correct", value=1, data_type="BOOLEAN", trace_id=trace_id, observation_id=draft_id)
    client.create_score(name="tone", value="friendly", data_type="CATEGORICAL", trace_id=trace_id)
    client.flush()
    client.shutdown()

    doc = get_trace(server, trace_id, spans=3, scores=3)
    spans = by_name(doc)
    assert spans["answer-question"]["parent_span_id"] is None and spans["answer-question"]["span_id"] == root_id
    assert spans["answer-question"]["input"] == {"q": "order?"}
    draft = spans["draft"]
    assert (draft["parent_span_id"], draft["kind"], draft["model"]) == (root_id, "llm", "gpt-4o")
    assert (draft["input_tokens"], draft["output_tokens"], draft["total_tokens"]) == (1000, 200, 1200)
    assert (draft["total_cost"], draft["cost_source"]) == (0.5, "reported")  # as reported, not recomputed
    assert draft["input"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is my order?"},
    ]
    assert draft["output"]["messages"][0] == {"role": "assistant", "content": "On its way."}
    assert draft["attributes"]["model_parameters"] == {"temperature": 0.2}
    assert (draft["user_id"], draft["session_id"], draft["tags"]) == ("user-5", "session-5", ["beta"])
    polish = spans["polish"]
    assert (polish["model"], polish["input_tokens"], polish["output_tokens"]) == ("gpt-4o-mini", 100, 20)
    assert polish["cost_source"] == "computed"  # gpt-4o-mini: $0.15 / $0.60 per million tokens
    assert polish["total_cost"] == pytest.approx(100 * 0.15e-6 + 20 * 0.6e-6)
    scores = by_name(doc, "scores")
    assert (scores["helpfulness"]["value"], scores["helpfulness"]["comment"]) == (0.9, "clear")
    assert scores["helpfulness"]["data_type"] == "NUMERIC" and scores["helpfulness"]["span_id"] is None
    assert (scores["correct"]["data_type"], scores["correct"]["value"], scores["correct"]["span_id"]) == (
        "BOOLEAN", 1.0, draft_id,
    )  # fmt: skip
    assert (scores["tone"]["string_value"], scores["tone"]["value"]) == ("friendly", None)


@pytest.fixture(scope="session")
def langfuse_v3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The v3 SDK unpacked from its wheel (pure Python), cached across runs; skipped when it cannot be fetched."""
    cache = Path(os.environ.get("LYNEX_TEST_CACHE", Path.home() / ".cache" / "lynex-box-tests"))
    wheel = cache / f"langfuse-{V3_VERSION}-py3-none-any.whl"
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", f"langfuse=={V3_VERSION}", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", str(cache)]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            pytest.skip(f"langfuse {V3_VERSION} could not be downloaded in time")
        if done.returncode != 0 or not wheel.exists():
            pytest.skip(f"langfuse {V3_VERSION} wheel unavailable (offline?): {done.stderr[-300:]}")
    target = tmp_path_factory.mktemp("langfuse-v3")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def test_the_official_v3_sdk_sends_traces_over_otlp_and_scores_over_legacy_ingestion(
    server: RunningServer, langfuse_v3: Path
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(langfuse_v3),
        "LF_PUBLIC_KEY": server.project,
        "LF_SECRET_KEY": server.creds["api_key"],
        "LF_HOST": server.url,
    }
    script = Path(__file__).with_name("langfuse_v3_client.py")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    ids = json.loads(done.stdout.strip().splitlines()[-1])

    doc = get_trace(server, ids["trace_id"], spans=2, scores=2)
    spans = by_name(doc)
    generation = spans["v3-generation"]
    assert (generation["parent_span_id"], generation["model"], generation["kind"]) == (ids["root_id"], "gpt-4o", "llm")
    assert (generation["input_tokens"], generation["output_tokens"]) == (1000, 200)
    assert generation["cost_source"] == "computed"
    assert generation["total_cost"] == pytest.approx(1000 * 2.5e-6 + 200 * 10e-6)
    assert generation["input"]["messages"] == [{"role": "user", "content": "Where is my parcel?"}]
    assert generation["output"]["messages"][0]["content"] == "In Lyon."
    assert (spans["v3-root"]["user_id"], spans["v3-root"]["session_id"]) == ("user-v3", "session-v3")
    scores = by_name(doc, "scores")
    assert (scores["v3-helpful"]["value"], scores["v3-helpful"]["comment"]) == (1.0, "resolved")
    assert (scores["v3-tone"]["string_value"], scores["v3-tone"]["span_id"]) == ("calm", ids["generation_id"])


def test_v3_score_create_batch_as_its_sdk_sends_it(server: RunningServer) -> None:
    """Recorded shape of langfuse 3.x `create_score` (ScoreIngestionConsumer → LangfuseClient.batch_post)."""
    trace_id, observation_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    request: dict[str, Any] = {
        "batch": [
            {
                "id": uuid.uuid4().hex,
                "type": "score-create",
                "timestamp": "2025-06-01T12:00:00.123456+00:00",
                "body": {"id": "score-v3-1", "traceId": trace_id, "observationId": observation_id, "name": "relevance",
                         "value": 0.42, "dataType": "NUMERIC", "comment": "ok", "environment": "default"},
            }
        ],
        "metadata": {"batch_size": 1, "sdk_name": "python", "sdk_version": V3_VERSION, "public_key": server.project},
    }  # fmt: skip
    headers = {
        **langfuse_headers(server),
        "Content-Type": "application/json",
        "x-langfuse-sdk-name": "python",
        "x-langfuse-sdk-version": V3_VERSION,
        "x-langfuse-public-key": server.project,
    }
    r = httpx.post(f"{server.url}/api/public/ingestion", content=json.dumps(request), headers=headers)
    assert r.status_code == 207
    assert r.json() == {"successes": [{"id": request["batch"][0]["id"], "status": 201}], "errors": []}
    listed = httpx.get(f"{server.url}/v1/projects/{server.project}/scores", params={"trace_id": trace_id},
                       headers=server.headers()).json()["items"]  # fmt: skip
    assert [(s["id"], s["name"], s["value"], s["span_id"], s["timestamp"]) for s in listed] == [
        ("score-v3-1", "relevance", 0.42, observation_id, "2025-06-01T12:00:00.123456Z")
    ]


def legacy_event(item_id: str, kind: str, body: dict[str, Any], timestamp: str) -> dict[str, Any]:
    return {"id": item_id, "type": kind, "timestamp": timestamp, "body": body}


def test_legacy_ingestion_answers_207_and_merges_creates_with_their_updates(server: RunningServer) -> None:
    trace_id, url = uuid.uuid4().hex, f"{server.url}/api/public/ingestion"
    first = [
        legacy_event("e1", "trace-create", {"id": trace_id, "name": "support-chat", "userId": "u2", "sessionId": "s2",
                     "timestamp": f"{DAY}T12:00:00Z", "tags": ["legacy"], "input": "hi"}, f"{DAY}T12:00:00Z"),
        legacy_event("e2", "span-create", {"id": "span-a", "traceId": trace_id, "name": "retrieve",
                     "startTime": f"{DAY}T12:00:00.100Z"}, f"{DAY}T12:00:00.100Z"),
        legacy_event("e3", "span-update", {"id": "span-a", "traceId": trace_id, "endTime": f"{DAY}T12:00:00.400Z",
                     "output": {"docs": 3}}, f"{DAY}T12:00:00.400Z"),
        legacy_event("e4", "generation-create", {"id": "gen-a", "traceId": trace_id, "parentObservationId": "span-a",
                     "name": "answer", "startTime": f"{DAY}T12:00:00.500Z", "model": "gpt-4o",
                     "input": [{"role": "user", "content": "hi"}]}, f"{DAY}T12:00:00.500Z"),
        legacy_event("e5", "event-create", {"id": "evt-a", "traceId": trace_id, "name": "cache-miss",
                     "startTime": f"{DAY}T12:00:00.050Z"}, f"{DAY}T12:00:00.050Z"),
        legacy_event("e6", "score-create", {"id": "sc-1", "traceId": trace_id, "name": "thumbs", "value": 1,
                     "dataType": "BOOLEAN"}, f"{DAY}T12:00:01Z"),
        legacy_event("e7", "sdk-log", {"log": {"msg": "flush"}}, f"{DAY}T12:00:01Z"),
        legacy_event("e8", "generation-create", {"id": "gen-b", "traceId": trace_id, "startTime": "noon"},
                     f"{DAY}T12:00:01Z"),
        legacy_event("e9", "score-create", {"traceId": trace_id, "name": "stars", "value": "five",
                     "dataType": "NUMERIC"}, f"{DAY}T12:00:01Z"),
        legacy_event("e10", "trace-upsert", {"id": trace_id}, f"{DAY}T12:00:01Z"),
    ]  # fmt: skip
    r = httpx.post(url, json={"batch": first}, headers=langfuse_headers(server))
    assert r.status_code == 207
    reply = r.json()
    assert sorted(s["id"] for s in reply["successes"]) == ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]
    assert all(s["status"] == 201 for s in reply["successes"])
    assert sorted(e["id"] for e in reply["errors"]) == ["e10", "e8", "e9"]
    assert all(e["status"] == 400 and e["message"] for e in reply["errors"])

    # the generation ends in a later request, as a long call does with the v2 SDK
    later = [
        legacy_event("e11", "generation-update", {"id": "gen-a", "traceId": trace_id,
                     "endTime": f"{DAY}T12:00:02.500Z", "output": {"role": "assistant", "content": "hello"},
                     "usage": {"input": 1000, "output": 200, "unit": "TOKENS"}, "level": "ERROR",
                     "statusMessage": "rate limited once"}, f"{DAY}T12:00:02.500Z"),
    ]  # fmt: skip
    r = httpx.post(url, content=gzip.compress(orjson.dumps({"batch": later})),
                   headers={**langfuse_headers(server), "Content-Encoding": "gzip"})  # fmt: skip
    assert r.status_code == 207 and r.json() == {"successes": [{"id": "e11", "status": 201}], "errors": []}

    def merged() -> dict[str, Any] | None:
        doc = get_trace(server, trace_id, spans=4, scores=1)
        return doc if by_name(doc)["answer"]["output"] is not None else None

    doc = wait_for(merged)
    assert doc, "the later update was not merged into its generation"
    spans = by_name(doc)
    assert len(doc["spans"]) == 4  # root, span, event, generation: the update folded into its generation
    root = spans["support-chat"]
    assert (root["span_id"], root["parent_span_id"]) == (trace_id, None)
    assert (root["user_id"], root["session_id"]) == ("u2", "s2")
    assert (root["tags"], root["input"]) == (["legacy"], "hi")
    assert (spans["retrieve"]["parent_span_id"], spans["retrieve"]["duration_ms"]) == (trace_id, 300.0)
    assert spans["retrieve"]["output"] == {"docs": 3}
    assert (spans["cache-miss"]["kind"], spans["cache-miss"]["parent_span_id"]) == ("event", trace_id)
    answer = spans["answer"]
    assert (answer["parent_span_id"], answer["kind"], answer["model"]) == ("span-a", "llm", "gpt-4o")
    assert (answer["input_tokens"], answer["output_tokens"], answer["status"]) == (1000, 200, "error")
    assert answer["status_message"] == "rate limited once" and answer["duration_ms"] == 2000.0
    assert answer["input"]["messages"] == [{"role": "user", "content": "hi"}]
    assert answer["output"]["messages"] == [{"role": "assistant", "content": "hello"}]
    assert answer["cost_source"] == "computed"  # usage from the update, model from the create
    assert answer["total_cost"] == pytest.approx(1000 * 2.5e-6 + 200 * 10e-6)
    assert [(s["name"], s["value"], s["string_value"]) for s in doc["scores"]] == [("thumbs", 1.0, "True")]

    # the traces list counts the generation and its later update row once
    listed = httpx.get(f"{server.url}/v1/projects/{server.project}/traces", headers=server.headers()).json()
    assert next(t["span_count"] for t in listed["items"] if t["trace_id"] == trace_id) == 4

    # the SDK retries a request whose answer it lost: nothing is stored twice (the project's rows, updates included)
    def stored_rows() -> int:
        metrics = httpx.get(f"{server.url}/v1/projects/{server.project}/metrics", headers=server.headers()).json()
        return int(metrics["series"][0]["points"][0]["count"])

    before = stored_rows()
    assert before == 5  # 4 spans + the later update of the generation
    r = httpx.post(url, json={"batch": first[:5]}, headers=langfuse_headers(server))
    assert r.status_code == 207 and len(r.json()["successes"]) == 5
    time.sleep(0.5)
    assert stored_rows() == before


def trace_views(server: RunningServer, trace_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The trace as the traces list, the trace endpoint and the outline show it."""
    base = f"{server.url}/v1/projects/{server.project}/traces"
    listed = httpx.get(base, headers=server.headers()).json()["items"]
    item = next(t for t in listed if t["trace_id"] == trace_id)
    detail = httpx.get(f"{base}/{trace_id}", headers=server.headers()).json()
    outline = httpx.get(f"{base}/{trace_id}/outline", headers=server.headers()).json()
    return item, detail, outline


def test_legacy_trace_updates_merge_into_the_list_the_trace_and_its_outline(server: RunningServer) -> None:
    trace_id, url = uuid.uuid4().hex, f"{server.url}/api/public/ingestion"
    created = [
        legacy_event("c1", "trace-create", {"id": trace_id, "name": "draft-name", "userId": "u-old",
                     "timestamp": f"{DAY}T09:00:00Z", "input": {"question": "where?"}, "tags": ["first"],
                     "metadata": {"plan": "free"}}, f"{DAY}T09:00:00Z"),
        legacy_event("c2", "span-create", {"id": "step-1", "traceId": trace_id, "name": "lookup",
                     "startTime": f"{DAY}T09:00:00.200Z", "endTime": f"{DAY}T09:00:00.300Z"},
                     f"{DAY}T09:00:00.200Z"),
    ]  # fmt: skip
    assert httpx.post(url, json={"batch": created}, headers=langfuse_headers(server)).status_code == 207
    assert get_trace(server, trace_id, spans=2)["trace"]["name"] == "draft-name"
    # later requests update the trace (the SDK sends trace-create again with the same id, no timestamp)
    for item_id, body in (
        ("u1", {"name": "final-name", "sessionId": "sess-9", "output": {"answer": "Lyon"}, "tags": ["final"]}),
        ("u2", {"userId": "u-new", "metadata": {"plan": "pro"}, "name": None}),
    ):
        update = legacy_event(item_id, "trace-create", {"id": trace_id, **body}, f"{DAY}T09:00:05Z")
        assert httpx.post(url, json={"batch": [update]}, headers=langfuse_headers(server)).status_code == 207

    def updated() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
        views = trace_views(server, trace_id)
        return views if views[1]["trace"]["user_id"] == "u-new" else None

    views = wait_for(updated)
    assert views, "the trace updates did not arrive"
    item, detail, outline = views
    expected = {
        "name": "final-name", "user_id": "u-new", "session_id": "sess-9", "tags": ["final"],
        "input": {"question": "where?"}, "output": {"answer": "Lyon"}, "metadata": {"plan": "pro"},
        "release": None, "environment": None,
    }  # fmt: skip
    assert detail["trace"] == expected
    assert outline["trace"] == expected
    assert (item["name"], item["user_id"], item["session_id"], item["span_count"]) == (
        "final-name", "u-new", "sess-9", 2,
    )  # fmt: skip
    root = by_name(detail)["final-name"]  # the trace's row, its updates folded in
    assert (root["span_id"], root["user_id"], root["output"]) == (trace_id, "u-new", {"answer": "Lyon"})
    assert len(detail["spans"]) == 2
    assert [(s["span_id"], s["name"]) for s in outline["spans"]] == [(trace_id, "final-name"), ("step-1", "lookup")]
    assert all("source" not in s and "event_id" not in s for s in outline["spans"])


def test_the_v5_sdk_trace_name_names_the_trace(server: RunningServer) -> None:
    from langfuse import Langfuse, propagate_attributes

    client = Langfuse(
        public_key=server.project, secret_key=server.creds["api_key"], base_url=server.url, flush_interval=0.1
    )
    with client.start_as_current_observation(name="handle-request", as_type="span", input="hi") as root:
        with (
            propagate_attributes(trace_name="checkout-flow", user_id="user-77", session_id="session-77"),
            root.start_as_current_observation(name="pick-model", as_type="generation", model="gpt-4o") as gen,
        ):
            gen.update(output="ok", usage_details={"input": 10, "output": 2})
        root.update(output="done")
        trace_id = root.trace_id
    client.flush()
    client.shutdown()

    get_trace(server, trace_id, spans=2)
    item, detail, outline = trace_views(server, trace_id)
    assert item["name"] == "checkout-flow"  # not the root span's name
    assert (detail["trace"]["name"], detail["trace"]["user_id"], detail["trace"]["session_id"]) == (
        "checkout-flow", "user-77", "session-77",
    )  # fmt: skip
    assert (detail["trace"]["input"], detail["trace"]["output"]) == ("hi", "done")  # the root span's
    assert outline["trace"] == detail["trace"]
    assert {s["name"] for s in detail["spans"]} == {"handle-request", "pick-model"}  # spans keep their names


def test_langfuse_endpoints_check_keys_size_and_shape(server: RunningServer) -> None:
    other = server.cli("projects", "create", "other")["project_id"]
    ok = httpx.get(f"{server.url}/api/public/projects", headers=langfuse_headers(server))
    assert ok.status_code == 200
    project = ok.json()["data"][0]
    assert project["id"] == server.project and project["metadata"] == {} and project["organization"]["id"]
    assert httpx.get(f"{server.url}/api/public/projects").status_code == 401
    bad = basic(server.project, "lx_wrongwro_" + "x" * 38)
    assert httpx.get(f"{server.url}/api/public/projects", headers=bad).status_code == 401
    mismatched = basic(other, server.creds["api_key"])
    assert httpx.get(f"{server.url}/api/public/projects", headers=mismatched).status_code == 403
    url = f"{server.url}/api/public/ingestion"
    assert httpx.post(url, json={"batch": []}).status_code == 401
    assert httpx.post(url, content=b"{nope", headers=langfuse_headers(server)).status_code == 400
    assert httpx.post(url, json={"events": []}, headers=langfuse_headers(server)).status_code == 400
    big = legacy_event("big", "trace-create", {"id": "t", "input": "x" * 3_600_000}, "2025-01-01T00:00:00Z")
    huge = {"batch": [big]}
    assert httpx.post(url, json=huge, headers=langfuse_headers(server)).status_code == 413
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_v5_score_endpoint_accepts_a_list_and_reports_rejects(server: RunningServer) -> None:
    url, trace_id = f"{server.url}/api/public/scores", uuid.uuid4().hex
    good = [{"id": "s-1", "traceId": trace_id, "name": "acc", "value": 0.5, "dataType": "NUMERIC",
             "timestamp": f"{DAY}T12:00:00Z", "metadata": {"judge": "gpt-4o"}}]  # fmt: skip
    r = httpx.post(url, json=good, headers=langfuse_headers(server))
    assert (r.status_code, r.json()) == (202, {"message": "Accepted"})
    updated = [{**good[0], "value": 0.75}, {"traceId": trace_id, "name": "bad", "value": "x", "dataType": "NUMERIC"}]
    r = httpx.post(url, json=updated, headers=langfuse_headers(server))
    assert r.status_code == 207
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (1, 1) and "NUMERIC" in body["errors"][0]["message"]
    items = httpx.get(f"{server.url}/v1/projects/{server.project}/scores", params={"trace_id": trace_id},
                      headers=server.headers()).json()["items"]  # fmt: skip
    assert [(s["id"], s["value"], s["metadata"]) for s in items] == [("s-1", 0.75, {"judge": "gpt-4o"})]

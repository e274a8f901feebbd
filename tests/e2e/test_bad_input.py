"""Client input that used to answer 500 answers a clear 400 with a JSON error body, and nothing is stored for it.

Found by the security review: invalid UTF-8 in a native body, an `input` nested 5,000 objects deep, and list cursors
holding a string, null, an object or an out-of-range number; plus the rest of their class (nesting that parses but
cannot be written back, Unicode digits in whole-number parameters, the other JSON routes and cursors).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import RunningServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(tmp_path_factory.mktemp("bad") / "data").start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.stop()


def _error(resp: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = resp.json()["error"]
    assert error["code"] and error["message"]
    return error


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _events_with_input(raw_input: bytes) -> bytes:
    return b'{"events": [{"name": "deep", "trace_id": "deep", "input": ' + raw_input + b"}]}"


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_invalid_utf8_in_a_native_body_is_400(server: RunningServer) -> None:
    url = f"{server.url}/v1/projects/{server.project}/events"
    for body in (
        b'{"events": [{"name": "\xff\xfe"}]}',
        b'{"events": [{"name": "x", "start_time": "2026-01-01T00:00:00\xc3Z"}]}',
        b'{"events": [{"metadata": {"\xed\xa0\x80": 1}}]}',  # an encoded surrogate
        b'{"events": [{"name": "x", "metadata": {"k": "\xff"}}]}',  # in a value kept as raw JSON
        b'{"events": [{"name": "x", "unknown\xc3": 1}]}',  # in a key the fast check skips
    ):
        error = _error(httpx.post(url, content=body, headers=server.headers()))
        assert error["code"] == "bad_json" and "UTF-8" in error["message"]


@pytest.mark.parametrize("depth", [5000, 1000, 300, 101])
def test_an_input_nested_too_deep_is_400(server: RunningServer, depth: int) -> None:
    url = f"{server.url}/v1/projects/{server.project}/events"
    error = _error(httpx.post(url, content=_events_with_input(_nested(depth)), headers=server.headers()))
    assert error["code"] == "too_deep" and "100" in error["message"]


def test_nesting_within_the_limit_is_stored_and_read_back(server: RunningServer) -> None:
    url = f"{server.url}/v1/projects/{server.project}/events"
    body = _events_with_input(_nested(96)).replace(b'"deep"', b'"deep-ok"')  # 96 + events, list, event = 99
    resp = httpx.post(url, content=body, headers=server.headers())
    assert resp.status_code == 202 and resp.json()["accepted"] == 1
    for _ in range(100):
        got = httpx.get(f"{server.url}/v1/projects/{server.project}/traces/deep-ok", headers=server.headers())
        if got.status_code == 200:
            break
    assert got.status_code == 200, got.text
    value = got.json()["spans"][0]["input"]
    for _ in range(96):
        value = value["a"]
    assert value == 1


CURSORS = {
    "not-base64-json": "not base64 json!",
    "non-ascii": "\u00e9\u00e9\u00e9\u00e9",
    "a-string": _cursor("a string"),
    "null": _cursor(None),
    "an-object": _cursor({"t": 1, "id": "x"}),
    "three-members": _cursor([1, "x", 2]),
    "time-a-string": _cursor(["1790000000000000", "x"]),
    "time-null": _cursor([None, "x"]),
    "time-an-object": _cursor([{"t": 1}, "x"]),
    "time-a-bool": _cursor([True, "x"]),
    "time-a-float": _cursor([1.5e300, "x"]),
    "time-over-int64": _cursor([10**30, "x"]),
    "time-under-int64": _cursor([-(10**30), "x"]),
    "id-null": _cursor([1, None]),
    "id-an-object": _cursor([1, {"id": 1}]),
    "id-a-number": _cursor([1, 2]),
    "id-too-long": _cursor([1, "x" * 5000]),
}


@pytest.mark.parametrize("route", ["traces", "spans", "sessions", "users"])
@pytest.mark.parametrize("cursor", list(CURSORS.values()), ids=list(CURSORS))
def test_list_cursors_that_are_not_ours_are_400(server: RunningServer, route: str, cursor: str) -> None:
    resp = httpx.get(
        f"{server.url}/v1/projects/{server.project}/{route}", params={"cursor": cursor}, headers=server.headers()
    )
    assert _error(resp)["code"] == "bad_cursor"


@pytest.mark.parametrize(
    "value", ["\u00b2", "\u0661\u0662", "1" * 5000, "99999999999999999999999"], ids=["sup2", "arabic", "5000", "big"]
)
def test_whole_number_parameters_are_ascii_digits_in_range(server: RunningServer, value: str) -> None:
    base = f"{server.url}/v1/projects/{server.project}"
    for path, key in (("traces", "limit"), ("spans", "limit"), ("metrics", "top"), ("metrics", "interval")):
        _error(httpx.get(f"{base}/{path}", params={key: value}, headers=server.headers()))


def test_other_cursors_and_json_routes_are_400(server: RunningServer) -> None:
    base = f"{server.url}/v1/projects/{server.project}"
    _error(httpx.get(f"{base}/scores", params={"cursor": _cursor([10**30, "x"])}, headers=server.headers()))
    deep = b'{"scores": [{"trace_id": "t", "name": "n", "value": 1, "metadata": ' + _nested(200) + b"}]}"
    _error(httpx.post(f"{base}/scores", content=deep, headers=server.headers()))
    _error(httpx.post(f"{base}/scores", content=b'{"name": "\xff"}', headers=server.headers()))
    batch = b'{"batch": [{"id": "1", "type": "trace-create", "body": {"id": "t", "input": ' + _nested(300) + b"}}]}"
    token = base64.b64encode(f"{server.project}:{server.creds['api_key']}".encode()).decode()
    auth = {"Authorization": f"Basic {token}"}
    _error(httpx.post(f"{server.url}/api/public/ingestion", content=batch, headers=auth))


def test_an_unhashable_type_is_an_item_error_not_a_500(server: RunningServer) -> None:
    events = {"events": [{"name": "typed", "type": {"k": 1}}, {"name": "listed", "type": ["llm"]}]}
    resp = httpx.post(f"{server.url}/v1/projects/{server.project}/events", json=events, headers=server.headers())
    assert resp.status_code == 202 and resp.json()["accepted"] == 0
    assert [r["index"] for r in resp.json()["rejected"]] == [0, 1]
    token = base64.b64encode(f"{server.project}:{server.creds['api_key']}".encode()).decode()
    batch = {"batch": [{"id": "1", "type": {"a": 1}, "body": {}}, {"id": "2", "type": ["trace-create"], "body": {}}]}
    resp = httpx.post(f"{server.url}/api/public/ingestion", json=batch, headers={"Authorization": f"Basic {token}"})
    assert resp.status_code == 207, resp.text
    assert [e["id"] for e in resp.json()["errors"]] == ["1", "2"] and resp.json()["successes"] == []


def test_nothing_bad_was_stored(server: RunningServer, tmp_path: Path) -> None:
    resp = httpx.get(f"{server.url}/v1/projects/{server.project}/spans", headers=server.headers())
    assert resp.status_code == 200
    assert {item["trace_id"] for item in resp.json()["items"]} <= {"deep-ok"}

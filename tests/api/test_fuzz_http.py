"""Fuzzing query parameters and cursors through the real server: any URL a client sends is answered below 500.

One `lynex-box run` with a few spans; hypothesis sends the list, metrics, scores, usage and audit routes arbitrary
values for their parameters (cursors made of arbitrary JSON, Unicode digits, huge numbers, control characters) and
checks every answer is a 2xx or a 4xx with a JSON error body. Bounded: about 200 requests in all (longer: the
bench/fuzz.py cursor target runs the same decoders without HTTP for hours).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.server import RunningServer

HTTP_FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
ROUTES = ["traces", "spans", "sessions", "users", "metrics", "scores", "prompts"]
PARAMS = ["cursor", "limit", "from", "to", "interval", "group_by", "top", "top_by", "min_cost", "max_cost", "q",
          "min_duration_ms", "max_duration_ms", "min_hallucination_risk", "name", "model", "tag", "status", "user_id",
          "trace_id", "detector"]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=2),
    max_leaves=6,
)


def _cursor(value: Any) -> str:
    try:
        return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")
    except orjson.JSONEncodeError:
        return "x"


ODD = ["0", "1", "1000", "1001", "-1", "\u00b2", "\u0661", "1" * 5000, "9" * 25, "nan", "inf", "5m", "0s", "1e309",
       "2026-01-01", "2026-13-45T99:99:99Z", "model", "count", ""]  # fmt: skip
OTHER_ROUTES = ["/api/projects/{p}/usage", "/api/projects/{p}/audit", "/api/projects/{p}/alerts/firings",
                "/v1/projects/{p}/prices"]  # fmt: skip
OTHER_PARAMS = ["from", "to", "cursor", "limit", "action", "rule_id", "model"]
values = st.text(max_size=30) | st.sampled_from(ODD) | json_values.map(_cursor)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(tmp_path_factory.mktemp("http-fuzz") / "data").start()
    events = [{"trace_id": f"t{i % 3}", "session_id": f"s{i % 2}", "user_id": "u", "name": "n", "model": "m",
               "start_time": 1_790_000_000_000 + i} for i in range(6)]  # fmt: skip
    url = f"{srv.url}/v1/projects/{srv.project}/events"
    assert httpx.post(url, json={"events": events}, headers=srv.headers()).status_code == 202
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.stop()


def _answered_below_500(resp: httpx.Response) -> None:
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert resp.json()["error"]["code"]


@HTTP_FUZZ
@given(st.sampled_from(ROUTES), st.dictionaries(st.sampled_from(PARAMS), values, max_size=4))
def test_list_routes_with_any_parameters(server: RunningServer, route: str, params: dict[str, str]) -> None:
    params = {k: v.replace("\x00", "") for k, v in params.items()}
    url = f"{server.url}/v1/projects/{server.project}/{route}"
    _answered_below_500(httpx.get(url, params=params, headers=server.headers(), timeout=30))


@HTTP_FUZZ
@given(json_values)
def test_any_json_as_a_cursor(server: RunningServer, value: Any) -> None:
    for route in ("traces", "spans", "sessions", "users", "scores"):
        url = f"{server.url}/v1/projects/{server.project}/{route}"
        resp = httpx.get(url, params={"cursor": _cursor(value)}, headers=server.headers(), timeout=30)
        _answered_below_500(resp)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(OTHER_ROUTES), st.dictionaries(st.sampled_from(OTHER_PARAMS), values, max_size=3))
def test_other_routes_with_any_parameters(server: RunningServer, route: str, params: dict[str, str]) -> None:
    params = {k: v.replace("\x00", "") for k, v in params.items()}
    url = server.url + route.format(p=server.project)
    _answered_below_500(httpx.get(url, params=params, headers=server.headers(), timeout=30))

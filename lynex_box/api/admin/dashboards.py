"""A project's custom dashboard: `GET /api/projects/{pid}/dashboard` (permission `data.read`: every member, a read
key) and `PUT` (`data.annotate`: members with write access; an API key needs the `admin` scope).

A chart is a metric of the metrics API (`GET /v1/projects/{pid}/metrics`) grouped by one of its group-by
dimensions, drawn as a line over time or as bars per group. The document is checked here against fixed allow-lists
(`METRICS`, `DIMENSIONS`, `CHART_TYPES`); the charts' data is read by the UI through the metrics API, which checks
the group-by again and never interpolates it. The body is capped by `[api] max_json_body_bytes`.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import json_object
from lynex_box.api.params import path_id
from lynex_box.api.principal import project_access
from lynex_box.api.services import services
from lynex_box.meta import dashboards
from lynex_box.query.sql import GROUP_COLUMNS

PATH: Final = "/api/projects/{project_id}/dashboard"
METRICS: Final = (
    "traces", "llm_calls", "count", "errors", "error_rate", "llm_error_rate", "input_tokens", "output_tokens",
    "total_cost", "p50_ms", "p95_ms", "p99_ms", "avg_hallucination_risk", "max_hallucination_risk",
)  # fmt: skip
DIMENSIONS: Final = (
    "model", "provider", "environment", "service", "user_id", "session_id", "prompt_name", "kind", "status", "tag",
)  # fmt: skip
CHART_TYPES: Final = ("line", "bar")
CHART_KEYS: Final = ("id", "title", "metric", "group_by", "chart")
_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TITLE: Final = 120
assert set(DIMENSIONS) <= set(GROUP_COLUMNS)  # each dimension is a group-by the metrics API allows


def _one_of(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ApiError(400, "bad_dashboard", f"{where} = {value!r} is not one of {list(allowed)}")
    return value


def _chart(item: Any, i: int, seen: set[str]) -> dict[str, Any]:
    where = f"charts[{i}]"
    if not isinstance(item, dict):
        raise ApiError(400, "bad_dashboard", f"{where} must be an object with keys {list(CHART_KEYS)}")
    unknown = sorted(set(item) - set(CHART_KEYS))
    if unknown:
        raise ApiError(400, "bad_dashboard", f"{where} has unknown keys {unknown}; allowed: {list(CHART_KEYS)}")
    chart_id = item.get("id")
    if not isinstance(chart_id, str) or not _ID.match(chart_id) or chart_id in seen:
        raise ApiError(400, "bad_dashboard", f"{where}.id must be a unique name of 1-64 letters, digits, - or _")
    seen.add(chart_id)
    title = item.get("title") or ""
    if not isinstance(title, str) or len(title) > MAX_TITLE:
        raise ApiError(400, "bad_dashboard", f"{where}.title must be text of at most {MAX_TITLE} characters")
    group = item.get("group_by")
    return {
        "id": chart_id,
        "title": title,
        "metric": _one_of(item.get("metric"), METRICS, f"{where}.metric"),
        "group_by": None if group is None else _one_of(group, DIMENSIONS, f"{where}.group_by"),
        "chart": _one_of(item.get("chart", "line"), CHART_TYPES, f"{where}.chart"),
    }


def parse_dashboard(doc: dict[str, Any]) -> dict[str, Any]:
    """The dashboard to store, from a PUT body `{"charts": [...]}`; 400 naming the first bad member."""
    unknown = sorted(set(doc) - {"charts", "updated_at", "updated_by"})  # a GET's answer may be sent back as is
    if unknown:
        raise ApiError(400, "bad_dashboard", f'unknown keys {unknown}; send {{"charts": [...]}}')
    charts = doc.get("charts")
    if not isinstance(charts, list):
        raise ApiError(400, "bad_dashboard", "charts must be a list of charts")
    seen: set[str] = set()
    return {"charts": [_chart(item, i, seen) for i, item in enumerate(charts)]}


def _key_or_user(request: Request, write: bool) -> str:
    if not write:
        return "data.read"
    return "settings.manage" if "authorization" in request.headers else "data.annotate"


async def get_dashboard(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    await project_access(request, svc, project_id, _key_or_user(request, False))
    return json_response(await asyncio.to_thread(dashboards.read, svc.engine.meta, project_id))


async def put_dashboard(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    access = await project_access(request, svc, project_id, _key_or_user(request, True))
    doc = parse_dashboard(await json_object(request))
    saved = await asyncio.to_thread(dashboards.save, svc.engine.meta, project_id, doc, access.actor)
    return json_response(saved)


routes = [
    Route(PATH, get_dashboard, methods=["GET"]),
    Route(PATH, put_dashboard, methods=["PUT"]),
]

_CHART: Final = spec.obj(
    ("id", "metric", "chart"),
    id={"type": "string", "description": "unique in the dashboard: 1-64 letters, digits, - or _"},
    title={"type": "string", "description": f"at most {MAX_TITLE} characters; empty: the UI names the chart"},
    metric={"enum": list(METRICS)},
    group_by={"enum": [*DIMENSIONS, None]},
    chart={"enum": list(CHART_TYPES)},
)
_DASHBOARD: Final = spec.obj(
    ("charts", "updated_at", "updated_by"),
    charts=spec.list_of(_CHART),
    updated_at={"type": ["integer", "null"], "description": "epoch µs of the last save; null: never saved"},
    updated_by={"type": ["string", "null"]},
)
OPENAPI: Final[spec.Paths] = {
    PATH: {
        "get": spec.op(
            "The project's custom dashboard: its charts in order (metric, group-by dimension, line or bar)",
            {200: "{charts, updated_at, updated_by}"},
            returns=_DASHBOARD,
        ),
        "put": spec.op(
            "Replace the project's custom dashboard (members with write access; audited as dashboard.saved). "
            "400 for a metric, dimension or chart type outside the allowed ones",
            {200: "{charts, updated_at, updated_by}"},
            body_text="{charts: [{id, title?, metric, group_by?, chart?}]}",
            body=spec.obj(("charts",), charts=spec.list_of(_CHART)),
            returns=_DASHBOARD,
        ),
    },
}

"""Route answers checked in-process (tests/api/inprocess.py): `/readyz` in each of its states, `/healthz`, the
JSON bodies of 404 and 405, and a list cursor that is not ours.

`/readyz` is driven by a fake engine: the states a load balancer must see (starting, overloaded, saturated) are
reached by a real server only under load, and here each is set directly. The cursor case runs the app's own
lifespan on a data dir made by `lynex-box init`, with its real engine and API key.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx

from lynex_box import API_VERSION, __version__
from lynex_box.query.pool import PoolStats
from tests.api.inprocess import (
    FakeEngine,
    FakeExports,
    FakePool,
    FakeQuery,
    Pressure,
    app_with,
    init_data_dir,
    running_app,
    settings_for,
)


def error_of(resp: httpx.Response, status: int) -> dict[str, Any]:
    """The `{"error": {"code", "message"}}` body every refusal carries (lynex_box/api/errors.py)."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert list(body) == ["error"] and set(body["error"]) == {"code", "message"}
    error: dict[str, Any] = body["error"]
    return error


def readyz(tmp_path: Path, engine: FakeEngine, ready: bool = True) -> httpx.Response:
    async def main() -> httpx.Response:
        async with app_with(settings_for(tmp_path), engine=engine, exports=FakeExports(), ready=ready) as (_, client):
            return await client.get("/readyz")

    return asyncio.run(main())


# ------------------------------------------------------------------------------------------------ /readyz
def test_readyz_is_503_starting_until_the_services_are_ready_then_200(tmp_path: Path) -> None:
    async def main() -> None:
        settings = settings_for(tmp_path)
        async with app_with(settings, engine=FakeEngine(), exports=FakeExports(), ready=False) as (svc, client):
            resp = await client.get("/readyz")
            assert error_of(resp, 503) == {"code": "starting", "message": "recovering; not accepting yet"}
            assert resp.headers["retry-after"] == "1"
            svc.ready = True
            resp = await client.get("/readyz")
            assert resp.status_code == 200
            assert resp.json() == {
                "status": "ready",
                "workers": {
                    "query": {"workers": 4, "busy": 0, "waiting": 0, "saturated_s": 0.0},
                    "export": {"workers": 2, "busy": 0, "waiting": 0, "saturated_s": 0.0},
                },
                "read_only": False,  # no read-only mode in these services (api/readonly.py)
            }

    asyncio.run(main())


def test_readyz_under_backpressure_is_503_overloaded_with_the_engines_reason_and_wait(tmp_path: Path) -> None:
    reason = "WAL backlog of 2000000000 bytes is over its limit"
    resp = readyz(tmp_path, FakeEngine(pressure=Pressure(reason, 7)))
    assert error_of(resp, 503) == {"code": "overloaded", "message": reason}
    assert resp.headers["retry-after"] == "7"


def test_readyz_is_503_saturated_when_every_query_worker_has_been_busy_a_while(tmp_path: Path) -> None:
    full = PoolStats(workers=4, busy=4, waiting=9, saturated_s=12.34)
    resp = readyz(tmp_path, FakeEngine(query=FakeQuery(FakePool(workers=4, full=full))))
    error = error_of(resp, 503)
    assert error["code"] == "saturated"
    assert error["message"].startswith(
        "every one of the 4 query workers has been busy for 12.3 s (9 queries waiting): queries answer late; hint:"
    )
    assert resp.headers["retry-after"] == "5"


def test_readyz_names_backpressure_first_when_the_query_workers_are_saturated_too(tmp_path: Path) -> None:
    full = PoolStats(workers=1, busy=1, waiting=0, saturated_s=60.0)
    engine = FakeEngine(
        pressure=Pressure("free disk of 10 bytes is under its limit", 10), query=FakeQuery(FakePool(1, full))
    )
    assert error_of(readyz(tmp_path, engine), 503)["code"] == "overloaded"


# ------------------------------------------------------------------------------------------------ /healthz, 404, 405
def test_healthz_version_404_and_405_answer_json_without_touching_the_engine(tmp_path: Path) -> None:
    async def main() -> None:
        async with app_with(settings_for(tmp_path)) as (_, client):  # no engine at all: none of these may need one
            resp = await client.get("/healthz")
            assert resp.status_code == 200 and resp.json() == {"status": "alive", "version": __version__}
            resp = await client.get("/v1/version")
            assert resp.status_code == 200 and resp.json() == {"version": __version__, "api": API_VERSION}
            resp = await client.get("/v1/no-such-route")
            assert error_of(resp, 404) == {"code": "not_found", "message": "no route for GET /v1/no-such-route"}
            resp = await client.post("/healthz", content=b"{}")
            assert error_of(resp, 405) == {"code": "method_not_allowed", "message": "POST is not allowed on /healthz"}
            resp = await client.delete("/readyz")
            assert error_of(resp, 405)["code"] == "method_not_allowed"

    asyncio.run(main())


# ------------------------------------------------------------------------------------------------ the real lifespan
def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_list_cursor_that_is_not_ours_is_400_bad_cursor_and_a_good_list_is_200(tmp_path: Path) -> None:
    created = init_data_dir(tmp_path / "data")
    project, headers = created["project_id"], {"Authorization": f"Bearer {created['api_key']}"}
    settings = settings_for(tmp_path / "data", query={"workers": 3})

    async def main() -> None:
        async with running_app(settings) as (_, client):
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["workers"]["query"]["workers"] == 3
            for route in ("traces", "sessions"):
                for cursor in ("not base64 json!", _cursor([10**30, "x"]), _cursor([1, None])):
                    resp = await client.get(
                        f"/v1/projects/{project}/{route}", params={"cursor": cursor}, headers=headers
                    )
                    assert error_of(resp, 400)["code"] == "bad_cursor", (route, cursor)
                resp = await client.get(f"/v1/projects/{project}/{route}", headers=headers)
                assert resp.status_code == 200, resp.text
            resp = await client.get(f"/v1/projects/{project}/traces", params={"cursor": _cursor([1, None])})
            assert error_of(resp, 401)["code"]  # no key: refused before the cursor is read

    asyncio.run(main())

"""Every request-body cap outside ingest is a setting: lowered in the environment, the real server applies it.

One server runs with each cap set far under its default; a body over it gets 413 naming the configured limit,
and the score routes refuse one score more than `[ingest] max_scores_per_request`.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.accounts import Browsers, me
from tests.e2e.server import RunningServer
from tests.e2e.test_langfuse import langfuse_headers

CAPS = {
    "LYNEX_API_MAX_JSON_BODY_BYTES": "2048",
    "LYNEX_API_MAX_PROMPT_BODY_BYTES": "3072",
    "LYNEX_API_MAX_PRICE_BODY_BYTES": "4096",
    "LYNEX_SCIM_MAX_BODY_BYTES": "5120",
    "LYNEX_ALERTS_MAX_RULE_BODY_BYTES": "6144",
    "LYNEX_INGEST_MAX_SCORES_PER_REQUEST": "3",
}


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, httpx.Client]]:
    server = RunningServer(tmp_path_factory.mktemp("caps") / "data", env=CAPS).start()
    web = Browsers(server)
    try:
        yield server, web.admin()  # the login itself is a small JSON body, under the lowered cap
    finally:
        web.close()
        server.stop()


def assert_too_large(r: httpx.Response, limit: str) -> None:
    assert r.status_code == 413, r.text
    assert f"larger than the limit of {limit} bytes" in r.text


def test_small_json_bodies_are_capped_by_the_api_setting(capped: tuple[RunningServer, httpx.Client]) -> None:
    server, _ = capped
    r = httpx.post(f"{server.url}/api/auth/login", json={"email": "a@example.com", "password": "p" * 2100})
    assert_too_large(r, "2048")


def test_prompt_price_and_alert_rule_bodies_are_capped_by_their_settings(
    capped: tuple[RunningServer, httpx.Client],
) -> None:
    server, owner = capped
    prompts = f"/v1/projects/{server.project}/prompts"
    r = owner.post(prompts, json={"name": "small", "template": "t" * 2500})  # over the JSON cap, under its own
    assert r.status_code == 201, r.text
    assert_too_large(owner.post(prompts, json={"name": "big", "template": "t" * 3100}), "3072")
    assert_too_large(owner.put(f"/v1/projects/{server.project}/prices", json={"prices": [], "x": "p" * 4100}), "4096")
    rules = f"/api/projects/{server.project}/alerts/rules"
    assert_too_large(owner.post(rules, json={"name": "r" * 6200, "metric": "span_count"}), "6144")


def test_scim_bodies_are_capped_by_the_scim_setting(capped: tuple[RunningServer, httpx.Client]) -> None:
    server, owner = capped
    org = me(owner)["orgs"][0]["id"]
    token = owner.post(f"/api/orgs/{org}/scim-token").json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "u" * 5200}
    r = httpx.post(f"{server.url}/scim/v2/Users", json=body, headers=headers)
    assert_too_large(r, "5120")


def test_one_score_more_than_the_ingest_setting_is_refused_on_both_score_routes(
    capped: tuple[RunningServer, httpx.Client],
) -> None:
    server, _ = capped
    score = {"trace_id": "t1", "name": "quality", "value": 1}
    native = f"{server.url}/v1/projects/{server.project}/scores"
    r = httpx.post(native, json={"scores": [score] * 4}, headers=server.headers())
    assert r.status_code == 413 and "the limit is 3" in r.json()["error"]["message"], r.text
    assert httpx.post(native, json={"scores": [score] * 3}, headers=server.headers()).status_code == 202
    r = httpx.post(f"{server.url}/api/public/scores", json=[{"traceId": "t1", "name": "q", "value": 1}] * 4,
                   headers=langfuse_headers(server))  # fmt: skip
    assert r.status_code == 413 and "the limit is 3" in r.text, r.text

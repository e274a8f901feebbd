"""API conformance: schemathesis generates requests from the served `/openapi.json` and sends them to a real server.

Properties, for every generated request to every documented operation: no 5xx, the status code is one the
operation documents, and a documented body has the documented content type and matches its schema.
Requests are authenticated the way the operation's `security` says: an admin-scope API key (project data
routes), a signed-in session with its CSRF header (account and org routes; routes open to both get both),
Basic project:key (the Langfuse routes) and the org's SCIM token (`/scim/v2`). Path parameters get the
ids of seeded resources most of the time (tests/api/conformance_seed.py), generated strings otherwise.

Bounded for the default run: LYNEX_CONFORMANCE_EXAMPLES (default 6) generated cases per operation in the
fuzzing phase, on top of schemathesis' explicit-example and coverage cases, with a fixed seed
(LYNEX_CONFORMANCE_SEED). docs/testing.md tells how to run the long version.

Left out or constrained, so one generated request cannot break the rest of the run:
- POST /api/auth/logout: would end the session every session-authenticated operation uses.
- POST /api/auth/password: would change the admin's password and end its other sessions.
- DELETE /api/projects/{project_id}/keys/{key_id}: key_id is a spare key, never the admin key in use.
- POST and DELETE /api/orgs/{org_id}/scim-token: org_id is a spare org, so the SCIM token in use stays valid.
- PATCH /api/projects/{project_id}/settings: project_id is a spare project (with its own admin key), so a
  generated ingest limit, retention or encryption switch never applies to the project the other operations use.
- DELETE and PATCH of members (/api/orgs/.../members/{user_id}, /api/projects/.../members/{user_id}) and the
  password-reset link: user_id is a member made for the test, never the admin (whose role or account
  would change under the session).
- DELETE /scim/v2/Users/{id}, PUT and PATCH of SCIM users: id is a SCIM-provisioned user, never the admin
  (deactivating the admin would end the session).
- Every other DELETE (traces, sessions, end users, alert rules, invitations, SCIM groups) goes to a spare
  copy of the resource, so the operations after it still find the kept one.
There is no route that deletes a project.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conformance_seed import Seeded, seed
from tests.e2e.accounts import Browsers, wait_for_trace
from tests.e2e.server import RunningServer

EXAMPLES = int(os.environ.get("LYNEX_CONFORMANCE_EXAMPLES", "6"))
SEED = int(os.environ.get("LYNEX_CONFORMANCE_SEED", "20261207"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Fuzzing sends many failed logins and reset requests from 127.0.0.1: limits high enough not to lock it out.
SERVER_ENV = {
    "LYNEX_AUTH_LOGIN_MAX_FAILURES_PER_IP": "100000",
    "LYNEX_AUTH_EMAIL_RESET_PER_IP_PER_HOUR": "100000",
}
EXCLUDED = ["^/api/auth/logout$", "^/api/auth/password$"]  # POST is their only method
REAL_ID = 0.8  # how often a path parameter gets a seeded id


def _on(path_regex: str, method: str | None, **ids: str) -> dict[str, Any]:
    """An `[[operations]]` entry: the operations whose path matches and, if given, whose method is `method`
    (two include keys of one entry are alternatives, so the method is an exclusion of every other method),
    with path parameter `name` drawn from dictionary `ids[name]`."""
    entry: dict[str, Any] = {"include-path-regex": path_regex}
    if method is not None:
        entry["exclude-method-regex"] = f"^(?!{method}$)"
    if ids:
        entry["parameters"] = {f"path.{k}": {"dictionary": v, "probability": REAL_ID} for k, v in ids.items()}
    return entry


def _config(s: Seeded) -> schemathesis.Config:
    ids = {
        "trace": s.trace_id,
        "span": s.span_id,
        "session": s.session_id,
        "end_user": s.end_user_id,
        "doomed_trace": s.doomed_trace_id,
        "doomed_session": s.doomed_session_id,
        "doomed_end_user": s.doomed_end_user_id,
        "prompt": s.prompt_name,
        "rule": s.rule_id,
        "doomed_rule": s.doomed_rule_id,
        "member": s.member_user,
        "doomed_user": s.doomed_user,
        "doomed_key": s.doomed_key_id,
        "doomed_invitation": s.doomed_invitation_id,
        "scim_user": s.scim_user,
        "scim_group": s.scim_group,
        "doomed_scim_user": s.doomed_scim_user,
        "doomed_scim_group": s.doomed_scim_group,
    }
    v1 = "^/v1/projects/\\{project_id\\}/"
    operations: list[dict[str, Any]] = [
        *({**_on(path, None), "enabled": False} for path in EXCLUDED),
        # the real ids of each kind of path; a DELETE (the first entry that matches wins) gets the spare copy
        _on(v1, "DELETE", trace_id="doomed_trace", session_id="doomed_session", user_id="doomed_end_user"),
        _on(v1, None, trace_id="trace", span_id="span", session_id="session", user_id="end_user", name="prompt"),
        _on("/alerts/rules/", "DELETE", rule_id="doomed_rule"),
        _on("/alerts/rules/", None, rule_id="rule"),
        _on("/members/\\{user_id\\}$", "DELETE", user_id="doomed_user"),
        _on("/members/\\{user_id\\}", None, user_id="member"),
        _on("/keys/\\{key_id\\}$", None, key_id="doomed_key"),
        _on("/invitations/\\{invitation_id\\}$", None, invitation_id="doomed_invitation"),
        {**_on("/scim-token$", None), "parameters": {"path.org_id": s.spare_org_id}},
        {**_on("/settings$", None), "parameters": {"path.project_id": s.spare_project_id}},
        _on("^/scim/v2/Users/", "DELETE", id="doomed_scim_user"),
        _on("^/scim/v2/Users/", None, id="scim_user"),
        _on("^/scim/v2/Groups/", "DELETE", id="doomed_scim_group"),
        _on("^/scim/v2/Groups/", None, id="scim_group"),
    ]
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": EXAMPLES, "with-security-parameters": False, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "request-timeout": 30,
            "dictionaries": {name: {"values": [value]} for name, value in ids.items()},
            # fixed: a generated project or org id only ever meets 403/404, which the e2e tests cover
            "parameters": {"path.project_id": s.project_id, "path.org_id": s.org_id},
            "operations": operations,
        }
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Seeded]]:
    data: Path = tmp_path_factory.mktemp("conformance") / "data"
    server = RunningServer(data, env=SERVER_ENV).start()
    browsers = Browsers(server)
    try:
        yield server, seed(server, browsers)
    finally:
        browsers.close()
        try:
            server.stop()
        except subprocess.TimeoutExpired:  # a request still running (a stalled handler): do not leave it behind
            server.kill()


@pytest.fixture(scope="module")
def api_schema(seeded: tuple[RunningServer, Seeded]) -> Any:
    server, s = seeded
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=_config(s))


schema = schemathesis.pytest.from_fixture("api_schema")


def _credentials(case: Any, s: Seeded) -> list[dict[str, Any]]:
    """The ways to call the case's operation its `security` allows: keyword arguments for `case.call`, one per way.
    The API key is the admin key of the project in the path (the spare project has its own)."""
    names = {name for requirement in case.operation.definition.raw.get("security", []) for name in requirement}
    key = s.spare_api_key if (case.path_parameters or {}).get("project_id") == s.spare_project_id else s.api_key
    out: list[dict[str, Any]] = []
    if "bearer" in names:
        out.append({"headers": {"Authorization": f"Bearer {key}"}})
    if "basic" in names:
        out.append({"auth": (s.project_id, s.api_key)})
    if "session" in names:
        out.append({"headers": {"X-CSRF-Token": s.csrf_token}, "cookies": {"lynex_session": s.session_cookie}})
    if "scimToken" in names:
        out.append({"headers": {"Authorization": f"Bearer {s.scim_token}"}})
    return out or [{}]


@pytest.mark.timeout(300 + 10 * EXAMPLES)  # one test item runs every operation: the long run needs longer
@schema.parametrize()
def test_every_generated_request_gets_a_documented_answer(case: Any, seeded: tuple[RunningServer, Seeded]) -> None:
    _, s = seeded
    for kwargs in _credentials(case, s):
        case.call_and_validate(checks=CHECKS, **kwargs)


# Bugs the suite found, each kept as an explicit request (the generated run may not draw the same value again).


def _post(server: RunningServer, path: str, body: object, **kw: Any) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=10, **kw)


def test_an_event_whose_type_is_not_a_string_is_rejected_by_index(seeded: tuple[RunningServer, Seeded]) -> None:
    server, s = seeded
    body = {"events": [{"type": {}}, {"type": ["llm"]}, {"trace_id": "conf-ok", "type": "llm"}]}
    r = _post(server, f"/v1/projects/{s.project_id}/events", body, headers=server.headers(s.api_key))
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 1
    assert [item["index"] for item in r.json()["rejected"]] == [0, 1]
    assert "type {} is not one of" in r.json()["rejected"][0]["error"]


@pytest.mark.parametrize("field", ["comparison", "metric"])
def test_an_alert_rule_with_an_object_for_a_choice_gets_400(seeded: tuple[RunningServer, Seeded], field: str) -> None:
    server, s = seeded
    rule = {"name": "x", "metric": "error_rate", "window_s": 300, "comparison": "gt", "threshold": 1, field: {}}
    r = _post(server, f"/api/projects/{s.project_id}/alerts/rules", rule, headers=server.headers(s.api_key))
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]["message"]


def test_a_langfuse_event_whose_type_is_not_a_string_is_refused_alone(seeded: tuple[RunningServer, Seeded]) -> None:
    server, s = seeded
    batch = [
        {"id": "conf-bad", "type": {}, "body": {}},
        {"id": "conf-good", "type": "trace-create", "body": {"id": "conf-lf-trace", "name": "t"}},
    ]
    r = _post(server, "/api/public/ingestion", {"batch": batch}, auth=(s.project_id, s.api_key))
    assert r.status_code == 207, r.text
    assert [e["id"] for e in r.json()["errors"]] == ["conf-bad"]
    assert [e["id"] for e in r.json()["successes"]] == ["conf-good"]


def test_an_export_over_decades_between_two_spans_answers_at_once(seeded: tuple[RunningServer, Seeded]) -> None:
    server, s = seeded
    headers, url = server.headers(s.api_key), f"{server.url}/v1/projects/{s.project_id}"
    events = [
        {"trace_id": "conf-2000", "start_time": "2000-01-02T00:00:00Z"},  # ingest refuses times before 2000
        {"trace_id": "conf-2026", "start_time": "2026-12-01T00:00:00Z"},
    ]
    assert _post(server, f"/v1/projects/{s.project_id}/events", {"events": events}, headers=headers).status_code == 202
    wait_for_trace(server, s.project_id, s.api_key, "conf-2000")
    # it walked the 27 years in export.chunk_s steps, one query each, and answered nothing for minutes
    r = httpx.get(f"{url}/export", params={"format": "jsonl"}, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    traces = {orjson.loads(line)["trace_id"] for line in r.content.splitlines()}
    assert {"conf-2000", "conf-2026", s.trace_id} <= traces

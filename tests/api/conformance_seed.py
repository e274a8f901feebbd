"""Real things for the API conformance suite to point at: one of each resource the API has ids for.

The suite (tests/api/test_conformance.py) fills path parameters with these ids, so generated requests reach
the handlers' work instead of stopping at 404. Resources a generated DELETE may remove come in a second,
sacrificial copy (`doomed_*`): the suite sends deletions there, so the resources the other operations use
stay in place for the whole run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer

SCIM_JSON = "application/scim+json"


@dataclass(frozen=True)
class Seeded:
    """Credentials and ids of a seeded server (end-user ids of spans are `end_*`, account user ids `*_user`)."""

    api_key: str
    session_cookie: str
    csrf_token: str
    scim_token: str
    project_id: str
    spare_project_id: str  # the suite's settings changes (limits, retention, encryption) act here
    spare_api_key: str  # an admin key of the spare project
    org_id: str
    spare_org_id: str  # the suite's scim-token calls act here, so the SCIM token in use is never replaced
    trace_id: str
    span_id: str
    session_id: str
    end_user_id: str
    doomed_trace_id: str
    doomed_session_id: str
    doomed_end_user_id: str
    prompt_name: str
    rule_id: str
    doomed_rule_id: str
    member_user: str
    doomed_user: str
    doomed_key_id: str
    doomed_invitation_id: str
    scim_user: str
    scim_group: str
    doomed_scim_user: str
    doomed_scim_group: str


def _ok(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json() if r.content else {}
    return body


def _events(project: str, key: str, server: RunningServer) -> None:
    now = int(time.time() * 1000)

    def span(trace: str, span_id: str, session: str, user: str, parent: str | None = None) -> dict[str, Any]:
        return {
            "trace_id": trace,
            "span_id": span_id,
            "parent_span_id": parent,
            "name": "chat gpt-4o",
            "type": "llm",
            "model": "gpt-4o",
            "provider": "openai",
            "start_time": now - 2000,
            "end_time": now - 1000,
            "input": [{"role": "user", "content": "Capital of France?"}],
            "output": "Paris.",
            "usage": {"input_tokens": 12, "output_tokens": 3},
            "session_id": session,
            "user_id": user,
            "environment": "prod",
            "tags": ["conformance"],
            "prompt": {"name": "conformance-prompt", "version": 1},
        }

    events = [
        span("conf-trace", "conf-root", "conf-session", "conf-user"),
        span("conf-trace", "conf-child", "conf-session", "conf-user", parent="conf-root"),
        span("conf-doomed-trace", "conf-doomed", "conf-doomed-session", "conf-doomed-user"),
    ]
    url = f"{server.url}/v1/projects/{project}"
    headers = server.headers(key)
    r = httpx.post(f"{url}/events", json={"events": events}, headers=headers, timeout=10)
    assert _ok(r, 202)["accepted"] == 3
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/traces/conf-trace", headers=headers, timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the seeded trace is not visible after 10 s"
        time.sleep(0.05)
    score = {"trace_id": "conf-trace", "span_id": "conf-root", "name": "quality", "value": 0.9}
    _ok(httpx.post(f"{url}/scores", json=score, headers=headers, timeout=10), 202)
    prompt = {"name": "conformance-prompt", "template": "Answer {question}", "version": 1}
    assert httpx.post(f"{url}/prompts", json=prompt, headers=headers, timeout=10).status_code in (200, 201)
    price = {"prices": [{"model": "conf-model", "input_per_mtok": 1.0, "output_per_mtok": 2.0}]}
    _ok(httpx.put(f"{url}/prices", json=price, headers=headers, timeout=10), 200)


def _rule(admin: httpx.Client, project: str, name: str) -> str:
    rule = {"name": name, "metric": "error_rate", "window_s": 300, "comparison": "gt", "threshold": 0.5}
    return str(_ok(admin.post(f"/api/projects/{project}/alerts/rules", json=rule), 201)["id"])


def _scim(admin: httpx.Client, server: RunningServer, org: str) -> tuple[str, list[str], list[str]]:
    """The org's SCIM token, two provisioned users and two groups."""
    token = str(_ok(admin.post(f"/api/orgs/{org}/scim-token"), 201)["token"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM_JSON}
    users, groups = [], []
    for name in ("scim-kept", "scim-doomed"):
        user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"{name}@example.com"}
        r = httpx.post(f"{server.url}/scim/v2/Users", content=_json(user), headers=headers, timeout=10)
        users.append(str(_ok(r, 201)["id"]))
        group = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
        r = httpx.post(f"{server.url}/scim/v2/Groups", content=_json(group), headers=headers, timeout=10)
        groups.append(str(_ok(r, 201)["id"]))
    return token, users, groups


def _json(doc: object) -> bytes:
    import orjson

    return orjson.dumps(doc)


def seed(server: RunningServer, browsers: Browsers) -> Seeded:
    """Create the resources through the public API, as a user and with the first API key."""
    project, key = server.project, server.creds["api_key"]
    _events(project, key, server)
    admin = browsers.admin()
    org = str(_ok(admin.get("/api/auth/me"), 200)["orgs"][0]["id"])
    spare_org = str(_ok(admin.post("/api/orgs", json={"name": "conformance spare"}), 201)["id"])
    spare = str(_ok(admin.post("/api/projects", json={"name": "conformance spare", "org_id": org}), 201)["project_id"])
    spare_key = _ok(admin.post(f"/api/projects/{spare}/keys", json={"scope": "admin", "name": "spare"}), 201)
    _, member = browsers.invite(admin, org, "member@example.com", "member", project_id=project, project_role="member")
    _, doomed_user = browsers.invite(
        admin, org, "doomed@example.com", "member", project_id=project, project_role="viewer"
    )
    doomed_key = _ok(admin.post(f"/api/projects/{project}/keys", json={"scope": "read", "name": "doomed"}), 201)
    invitation = _ok(admin.post(f"/api/orgs/{org}/invitations", json={"role": "viewer", "email": "x@example.com"}), 201)
    scim_token, scim_users, scim_groups = _scim(admin, server, org)
    return Seeded(
        api_key=key,
        session_cookie=admin.cookies["lynex_session"],
        csrf_token=admin.headers["X-CSRF-Token"],
        scim_token=scim_token,
        project_id=project,
        spare_project_id=spare,
        spare_api_key=str(spare_key["api_key"]),
        org_id=org,
        spare_org_id=spare_org,
        trace_id="conf-trace",
        span_id="conf-root",
        session_id="conf-session",
        end_user_id="conf-user",
        doomed_trace_id="conf-doomed-trace",
        doomed_session_id="conf-doomed-session",
        doomed_end_user_id="conf-doomed-user",
        prompt_name="conformance-prompt",
        rule_id=_rule(admin, project, "conformance kept"),
        doomed_rule_id=_rule(admin, project, "conformance doomed"),
        member_user=member,
        doomed_user=doomed_user,
        doomed_key_id=str(doomed_key["key_id"]),
        doomed_invitation_id=str(invitation["id"]),
        scim_user=scim_users[0],
        scim_group=scim_groups[0],
        doomed_scim_user=scim_users[1],
        doomed_scim_group=scim_groups[1],
    )

"""A project's custom dashboard through its API: saved and read back as sent, kept across a restart, editable by
members with write access only, invisible to another project, and refused (400) for anything outside the allowed
metrics, dimensions and chart types."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.accounts import Browsers, me
from tests.e2e.server import RunningServer

CHARTS = [
    {"id": "cost-by-model", "title": "Cost per model", "metric": "total_cost", "group_by": "model", "chart": "bar"},
    {"id": "llm-p95", "title": "", "metric": "p95_ms", "group_by": None, "chart": "line"},
    {"id": "tags", "title": "Traces per tag", "metric": "traces", "group_by": "tag", "chart": "line"},
]


@dataclass
class World:
    server: RunningServer
    web: Browsers
    owner: httpx.Client
    member: httpx.Client
    viewer: httpx.Client
    path: str


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    server = RunningServer(tmp_path / "data").start()
    web = Browsers(server)
    owner = web.admin()
    org = me(owner)["orgs"][0]["id"]
    member, _ = web.invite(owner, org, "member@acme.io", "member")
    viewer, _ = web.invite(owner, org, "viewer@acme.io", "viewer")
    yield World(server, web, owner, member, viewer, f"/api/projects/{server.project}/dashboard")
    web.close()
    if server.proc is not None and server.proc.poll() is None:
        server.stop()


def test_saved_dashboard_reads_back_as_sent_and_survives_a_restart(world: World) -> None:
    empty = world.viewer.get(world.path)
    assert empty.status_code == 200 and empty.json() == {"charts": [], "updated_at": None, "updated_by": None}
    r = world.member.put(world.path, json={"charts": CHARTS})
    assert r.status_code == 200, r.text
    assert r.json()["charts"] == CHARTS and r.json()["updated_by"] == "member@acme.io"
    assert world.viewer.get(world.path).json()["charts"] == CHARTS
    # reordered and one removed: the stored order is the sent one
    assert world.owner.put(world.path, json={"charts": [CHARTS[2], CHARTS[0]]}).status_code == 200
    world.web.close()
    world.server.stop()
    world.server.start()
    again = Browsers(world.server).admin()
    got = again.get(world.path).json()
    assert got["charts"] == [CHARTS[2], CHARTS[0]] and got["updated_by"] == world.server.creds["admin_email"]
    entries = again.get(f"/api/projects/{world.server.project}/audit", params={"action": "dashboard.saved"})
    assert entries.status_code == 200 and len(entries.json()["items"]) == 2
    again.close()


def test_readers_cannot_edit_and_another_project_cannot_read(world: World) -> None:
    assert world.member.put(world.path, json={"charts": CHARTS}).status_code == 200
    refused = world.viewer.put(world.path, json={"charts": []})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert world.viewer.get(world.path).json()["charts"] == CHARTS
    other = world.owner.post("/api/projects", json={"name": "other"})
    assert other.status_code == 201, other.text
    other_pid = other.json()["project_id"]
    # the other project's dashboard is its own (empty), and its key cannot read this one
    assert world.owner.get(f"/api/projects/{other_pid}/dashboard").json()["charts"] == []
    key = world.owner.post(f"/api/projects/{other_pid}/keys", json={"name": "k", "scope": "admin"})
    assert key.status_code == 201, key.text
    bearer = {"Authorization": f"Bearer {key.json()['api_key']}"}
    url = world.server.url + world.path
    assert httpx.get(url, headers=bearer).status_code == 403
    assert httpx.put(url, headers=bearer, json={"charts": []}).status_code == 403
    assert world.viewer.get(world.path).json()["charts"] == CHARTS


BAD: list[tuple[object, str]] = [
    ({"charts": [{**CHARTS[0], "group_by": "input"}]}, "charts[0].group_by"),
    ({"charts": [{**CHARTS[0], "group_by": "model; DROP TABLE spans"}]}, "charts[0].group_by"),
    ({"charts": [CHARTS[0], {**CHARTS[1], "metric": "sum(input)"}]}, "charts[1].metric"),
    ({"charts": [{**CHARTS[0], "chart": "pie"}]}, "charts[0].chart"),
    ({"charts": [CHARTS[0], CHARTS[0]]}, "charts[1].id"),
    ({"charts": [{**CHARTS[0], "sql": "x"}]}, "unknown keys"),
    ({"charts": "all"}, "charts must be a list"),
]


def test_bad_dashboards_are_refused_and_the_stored_one_kept(world: World) -> None:
    assert world.member.put(world.path, json={"charts": CHARTS}).status_code == 200
    for body, names in BAD:
        r = world.member.put(world.path, json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_dashboard", r.text
        assert names in r.json()["error"]["message"]
    assert world.member.get(world.path).json()["charts"] == CHARTS

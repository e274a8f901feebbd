"""The authorisation matrix: every route of the served `/openapi.json` × every kind of caller, against the
one table of tests/e2e/authz_table.py (the threat model of docs/security.md, with the role and scope
rights of its permission tables).

One real server holds org A (project P, a sibling project), org B (another tenant) and a caller of each kind
(tests/e2e/authz_world.py). Each route is called once by each caller with P's or A's ids, in table order,
the rows that end sessions last; then each route's test compares every answer with its row: let through
(anything but 401, 403, 404 and 5xx) or refused with the table's status. A served route without a row, or
a row for a route the server no longer has, fails `test_every_served_route_has_exactly_one_row`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.auth.test_rbac import documented_table
from tests.e2e.authz_table import ALLOWED, PRINCIPALS, TABLE, Org, Project, Row, Rule, Scim, Who, body_of, ordered
from tests.e2e.authz_world import World
from tests.e2e.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider
from tests.e2e.server import RunningServer
from tests.e2e.smtp_server import SmtpServer

# path parameter -> the World attribute holding its value, unless the row's `ids` says otherwise
DEFAULT_IDS = {
    "project_id": "project",
    "org_id": "org",
    "trace_id": "trace",
    "span_id": "span",
    "name": "name",
    "rule_id": "rule",
    "monitor_id": "monitor",
}
Route = tuple[str, str]


@dataclass(frozen=True)
class Cell:
    status: int
    excerpt: str


@dataclass
class Matrix:
    answers: dict[Route, dict[str, Cell]]
    ghosts: dict[Route, dict[str, Cell]]  # the same refused calls, naming a project/org/resource that does not exist
    served: set[Route]


TENANT_PARAM: dict[type[Rule], str] = {Project: "project_id", Org: "org_id", Scim: "id"}
GHOST_CALLERS = ("B admin", "other_org admin key", "project-only admin", "SCIM token B")


def _tenant_param(route: Route, row: Row) -> str:
    """The path parameter naming the tenant's project, org or SCIM resource, if the route has one."""
    param = TENANT_PARAM.get(type(row.rule), "")
    return param if param and f"{{{param}}}" in route[1] else ""


def _ghost(value: str) -> str:
    """An id of the same shape as `value` that names nothing."""
    prefix, _, rest = value.rpartition("_")
    return f"{prefix}_{'0' * len(rest)}"


def _path(path: str, row: Row, world: World, ghost: str = "") -> str:
    def value(m: re.Match[str]) -> str:
        found = world.value(row.ids.get(m[1], DEFAULT_IDS.get(m[1], m[1])))
        return _ghost(found) if m[1] == ghost else found

    return re.sub(r"\{(\w+)(:\w+)?\}", value, path)


def _call(world: World, method: str, path: str, row: Row, who: Who, ghost: str = "") -> httpx.Response:
    headers = world.request_headers(who, row)
    return world.call(
        method, _path(path, row, world, ghost), headers, params=row.params or None, json=body_of(row, world)
    )


def _run(world: World) -> Matrix:
    answers: dict[Route, dict[str, Cell]] = {}
    ghosts: dict[Route, dict[str, Cell]] = {}
    for (method, path), row in ordered():
        answers[(method, path)] = cells = {}
        for who in PRINCIPALS:
            if row.before:
                getattr(world, row.before)()
            r = _call(world, method, path, row, who)
            cells[who.name] = Cell(r.status_code, r.text[:160])
            if row.after:
                getattr(world, row.after)(r)
            if row.consumes and r.is_success:
                world.used_up(row.consumes)
        param = _tenant_param((method, path), row)
        if param:
            ghosts[(method, path)] = {
                who.name: Cell(r.status_code, r.text[:160])
                for who in PRINCIPALS
                if who.name in GHOST_CALLERS and row.rule.expect(who, method) in (403, 404)
                for r in (_call(world, method, path, row, who, ghost=param),)
            }
    return Matrix(answers, ghosts, set())


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """Every cell's answer, from one server with SSO and email on (so their public routes answer as in use)."""
    provider, smtp = Provider().start(), SmtpServer().start()
    env = {
        "LYNEX_OIDC_ENABLED": "true",
        "LYNEX_OIDC_ISSUER": provider.issuer,
        "LYNEX_OIDC_CLIENT_ID": CLIENT_ID,
        "LYNEX_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "LYNEX_SMTP_ENABLED": "true",
        "LYNEX_SMTP_HOST": "127.0.0.1",
        "LYNEX_SMTP_PORT": str(smtp.port),
        "LYNEX_SMTP_SECURITY": "none",
        "LYNEX_SMTP_FROM_ADDRESS": "lynex@example.test",
        "LYNEX_AUTH_EMAIL_RESET_PER_IP_PER_HOUR": "1000",
    }
    server = RunningServer(tmp_path_factory.mktemp("authz") / "data", env=env)
    server.env["LYNEX_SERVER_PUBLIC_URL"] = server.url
    world = World(server)
    try:
        server.start()
        world.build()
        served = world.call("GET", "/openapi.json", {}).json()["paths"]
        routes = {(method.upper(), path) for path, operations in served.items() for method in operations}
        found = _run(world)
        found.served = routes
        yield found
    finally:
        world.close()
        if server.proc is not None and server.proc.poll() is None:
            server.stop()
        smtp.stop()
        provider.stop()


def test_every_served_route_has_exactly_one_row(matrix: Matrix) -> None:
    missing = sorted(matrix.served - set(TABLE))
    assert not missing, f"routes without a row in tests/e2e/authz_table.py TABLE: {missing}"
    stale = sorted(set(TABLE) - matrix.served)
    assert not stale, f"rows for routes the server does not serve: {stale}"


def test_every_action_of_the_permission_table_is_probed() -> None:
    """org.read is no route of its own: it decides what /api/auth/me and /api/projects list."""
    probed = {r.rule.action for r in TABLE.values() if isinstance(r.rule, Org)}
    probed |= {a for r in TABLE.values() if isinstance(r.rule, Project) for a in (r.rule.user, r.rule.key)}
    assert set(documented_table()["owner"]) - probed == {"org.read"}


def _verdict(status: int) -> int:
    return status if status in (401, 403, 404) else ALLOWED


def _word(expected: int) -> str:
    return "allowed" if expected == ALLOWED else f"refused {expected}"


@pytest.mark.parametrize("route", [route for route, _ in ordered()], ids=" ".join)
def test_each_caller_gets_the_answer_of_the_table(matrix: Matrix, route: Route) -> None:
    row, cells = TABLE[route], matrix.answers[route]
    wrong = []
    for who in PRINCIPALS:
        cell, expected = cells[who.name], row.rule.expect(who, route[0])
        if _verdict(cell.status) != expected or cell.status >= 500:
            wrong.append(f"{who.name}: {cell.status} (table: {_word(expected)}) {cell.excerpt}")
    assert not wrong, f"{' '.join(route)}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("route", [route for route, row in ordered() if _tenant_param(route, row)], ids=" ".join)
def test_a_refusal_across_tenants_says_nothing_of_what_exists(matrix: Matrix, route: Route) -> None:
    """Another tenant's caller gets the very answer (status and body) for A's real ids and for ids of nothing."""
    assert matrix.ghosts[route], "no caller of another tenant was refused here"
    for name, ghost in matrix.ghosts[route].items():
        assert matrix.answers[route][name] == ghost, f"{name}: for A's id {matrix.answers[route][name]}, else {ghost}"

"""`/openapi.json` describes every route the app answers (the web UI's files aside), each with a written
description, and describes nothing the app does not answer."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from lynex_box.api.openapi import RETURNS, UI_PATHS, documented_paths, openapi_document, route_operations
from lynex_box.app import create_app
from lynex_box.config import Settings
from tests.e2e.server import RunningServer

METHODS = {"get", "post", "put", "patch", "delete"}


def _app_operations() -> set[tuple[str, str]]:
    return {(path, method) for path, method, _ in route_operations(create_app(Settings()).routes)}


def test_every_route_of_the_app_has_a_written_description() -> None:
    operations = _app_operations()
    described = {(path, method) for path, methods in documented_paths().items() for method in methods}
    undescribed = sorted(operations - described)
    assert not undescribed, (
        f"routes without an OpenAPI description: {undescribed}; "
        "hint: add them to the OPENAPI table of the route's module (lynex_box/api/spec.py is the dialect)"
    )
    stale = sorted(described - operations)
    assert not stale, f"OpenAPI descriptions of routes the app does not have: {stale}"
    assert ("/api/auth/password/forgot", "post") in operations and ("/scim/v2/Users/{id}", "patch") in operations


def test_every_answer_schema_names_an_operation_with_a_json_success() -> None:
    document = openapi_document(create_app(Settings()).routes)
    for path, methods in RETURNS.items():
        for method, schema in methods.items():
            responses = document["paths"].get(path, {}).get(method, {}).get("responses", {})
            ok = [r for c, r in responses.items() if c.startswith("2") and "application/json" in r.get("content", {})]
            assert ok, f"openapi.RETURNS names {method.upper()} {path}, which has no 2xx JSON answer"
            assert all(r["content"]["application/json"]["schema"] == schema for r in ok), f"{method} {path}"


def test_every_operation_is_complete_and_names_its_path_parameters() -> None:
    document = openapi_document(create_app(Settings()).routes)
    assert document["openapi"] == "3.1.0"
    schemes = set(document["components"]["securitySchemes"])
    for path, operations in document["paths"].items():
        assert path not in UI_PATHS and not path.startswith("/ui/")
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert method in METHODS, where
            assert operation.get("summary") and not operation.get("x-undocumented"), where
            assert operation["responses"] and all(re.fullmatch(r"[1-5]\d\d", c) for c in operation["responses"]), where
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert params == set(re.findall(r"\{(\w+)\}", path)), where
            for requirement in operation.get("security", []):
                assert set(requirement) <= schemes, where


def test_the_served_document_lists_exactly_the_running_servers_routes(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data").start()
    try:
        r = httpx.get(f"{server.url}/openapi.json", timeout=10)
    finally:
        server.stop()
    assert r.status_code == 200
    served = {(path, method) for path, methods in r.json()["paths"].items() for method in methods}
    assert served == _app_operations()
    assert {p for p, _ in served} >= {
        "/api/auth/login",
        "/api/orgs/{org_id}/invitations",
        "/api/projects/{project_id}/keys/{key_id}",
        "/scim/v2/Groups/{id}",
        "/v1/traces",
        "/v1/projects/{project_id}/prompts/{name}/versions",
    }

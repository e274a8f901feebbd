"""The classification of metadata writes (`api/metawrites.py`): every route of the app with a method other than GET
and HEAD is either forwarded to the metadata lease holder in cluster mode or answered locally for a stated reason,
and the table names only routes that exist. A new write route fails here until it is classified."""

from __future__ import annotations

from starlette.routing import Route

from lynex_box.api.metawrites import FORWARDED, LOCAL, metadata_write
from lynex_box.app import create_app
from lynex_box.config import Settings

SAFE = {"GET", "HEAD", "OPTIONS"}


def app_routes() -> set[tuple[str, str]]:
    app = create_app(Settings())
    found = set()
    for route in app.routes:
        assert isinstance(route, Route), f"{route!r} is not a plain Route: classify what it mounts"
        found |= {(method, route.path) for method in route.methods or ()}
    return found


def test_every_route_that_may_write_is_classified_as_forwarded_or_local() -> None:
    forwarded = {(method, path) for method, path, _ in FORWARDED}
    unclassified = sorted(
        (method, path) for method, path in app_routes() if method not in SAFE and (method, path) not in forwarded
        and (method, path) not in LOCAL
    )  # fmt: skip
    assert not unclassified, (
        f"routes neither forwarded nor local: {unclassified}; add each to FORWARDED (it writes users, projects, "
        "keys, settings...) or LOCAL (with the reason) in lynex_box/api/metawrites.py"
    )


def test_the_table_names_only_routes_that_exist_and_none_twice() -> None:
    routes = app_routes()
    forwarded = [(method, path) for method, path, _ in FORWARDED]
    assert len(forwarded) == len(set(forwarded))
    assert not set(forwarded) & set(LOCAL)
    assert not [entry for entry in [*forwarded, *LOCAL] if entry not in routes]


def test_requests_are_matched_to_their_route() -> None:
    key = metadata_write("post", "/api/projects/proj_1/keys")
    assert key is not None and key.path == "/api/projects/{project_id}/keys"
    assert metadata_write("DELETE", "/v1/projects/p/traces/t1") is not None  # a deletion tombstone
    assert metadata_write("GET", "/api/auth/oidc/callback") is not None  # writes users and sessions
    assert metadata_write("GET", "/api/projects/proj_1/keys") is None
    assert metadata_write("POST", "/v1/projects/p/events") is None  # ingest: each node's WAL
    assert metadata_write("POST", "/v1/traces") is None
    assert metadata_write("POST", "/api/projects/proj_1/keys/extra") is None
    rule = metadata_write("POST", "/api/projects/p/alerts/rules")
    assert rule is not None and rule.cap(Settings()) == Settings().alerts.max_rule_body_bytes

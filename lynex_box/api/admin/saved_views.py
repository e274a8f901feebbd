"""A signed-in user's saved views of a project: `GET` and `POST /api/projects/{pid}/views`, `DELETE
/api/projects/{pid}/views/{view_id}` (a user session with `data.read` on the project; API keys have no user).

A view is a name, the UI page it belongs to and that page's URL query string (`meta/saved_views.py`); each user
sees and deletes only their own, in each project apart. Saving under a name the user already used replaces it.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import json_object
from lynex_box.api.params import path_id
from lynex_box.api.principal import Access, project_access
from lynex_box.api.services import services
from lynex_box.meta.saved_views import PAGES, SavedViews, TooManyViews

LIST_PATH: Final = "/api/projects/{project_id}/views"
PATH: Final = "/api/projects/{project_id}/views/{view_id}"
MAX_NAME: Final = 120
MAX_QUERY: Final = 8192  # characters of a view's query string


async def _user(request: Request) -> tuple[Access, SavedViews]:
    svc = services(request)
    access = await project_access(request, svc, path_id(request, "project_id"), "data.read")
    if access.session is None:
        raise ApiError(403, "forbidden", "saved views belong to a user: sign in to the UI instead of using an API key")
    return access, SavedViews(svc.engine.meta)


def _text(body: dict[str, object], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", f"{key} must be a string")
    value = value.strip() if key == "name" else value
    if key == "name" and not value:
        raise ApiError(400, "bad_request", "name must not be empty; hint: name the view, e.g. 'errors in prod'")
    if len(value) > limit:
        raise ApiError(400, "bad_request", f"{key} is {len(value)} characters long; at most {limit}")
    return value


async def list_views(request: Request) -> Response:
    access, views = await _user(request)
    assert access.session is not None
    found = await asyncio.to_thread(views.list, access.project_id, access.session.user_id)
    return json_response({"items": [v.as_dict() for v in found]})


async def save_view(request: Request) -> Response:
    access, views = await _user(request)
    assert access.session is not None
    body = await json_object(request)
    name, query = _text(body, "name", MAX_NAME), _text(body, "query", MAX_QUERY).lstrip("?")
    page = body.get("page", "traces")
    if page not in PAGES:
        raise ApiError(400, "bad_request", f"page {page!r} is not one of {list(PAGES)}")
    try:
        view = await asyncio.to_thread(views.save, access.project_id, access.session.user_id, name, str(page), query)
    except TooManyViews as exc:
        raise ApiError(409, "too_many_views", str(exc)) from None
    return json_response({"view": view.as_dict()}, 201)


async def delete_view(request: Request) -> Response:
    access, views = await _user(request)
    assert access.session is not None
    view_id = path_id(request, "view_id")
    if not await asyncio.to_thread(views.delete, access.project_id, access.session.user_id, view_id):
        raise ApiError(404, "not_found", "no saved view of yours with that id in this project")
    return Response(status_code=204)


routes = [
    Route(LIST_PATH, list_views, methods=["GET"]),
    Route(LIST_PATH, save_view, methods=["POST"]),
    Route(PATH, delete_view, methods=["DELETE"]),
]

_VIEW: Final = spec.obj(
    ("id", "project_id", "name", "page", "query", "created_at", "updated_at"),
    id=spec.STR,
    project_id=spec.STR,
    name=spec.STR,
    page=spec.STR,
    query=spec.STR,
    created_at={"type": "integer"},
    updated_at={"type": "integer"},
)
OPENAPI: Final[spec.Paths] = {
    LIST_PATH: {
        "get": spec.op(
            "The signed-in user's saved views of the project (name, page, URL query string), by name",
            {200: "{items: [view]}"},
            security=spec.SESSION,
            returns=spec.obj(("items",), items={"type": "array", "items": _VIEW}),
        ),
        "post": spec.op(
            "Save the current filter state under a name (replaces the user's view of that name). Only its owner "
            "sees it",
            {201: "{view}"},
            security=spec.SESSION,
            body_text="{name, query, page?}",
            body=spec.obj(("name", "query"), name=spec.STR, query=spec.STR, page=spec.STR),
            returns=spec.obj(("view",), view=_VIEW),
        ),
    },
    PATH: {
        "delete": spec.op(
            "Delete one of the user's saved views", {204: "done"}, security=spec.SESSION, errors=(401, 403, 404)
        )
    },
}

"""Serves the built web UI (`static/`, committed) under `/ui/`; `/` redirects there.

Files in `static/assets/` have content hashes in their names, so they are cached for a year; every other
`/ui/...` path that is not a file answers the SPA's `index.html` (never cached), whose router draws the
view. Paths are resolved inside `static/` only: nothing outside it can be read. These routes are mounted
last, so API paths never reach them.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from lynex_box.api.errors import error_response

STATIC = Path(__file__).resolve().parent / "static"
BASE = "/ui/"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"


def _file(relative: str) -> Path | None:
    """The file under `static/` that `relative` names, or None (missing, a folder, or outside)."""
    if not relative or "\x00" in relative:
        return None
    candidate = (STATIC / relative).resolve()
    if not candidate.is_relative_to(STATIC) or not candidate.is_file():
        return None
    return candidate


def spa_index() -> Response:
    index = STATIC / "index.html"
    if not index.is_file():
        return error_response(
            503, "ui_not_built", "the web UI is not built; hint: run `npm ci && npm run build` in lynex_box/web/ui"
        )
    return FileResponse(index, media_type="text/html", headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


async def root(request: Request) -> Response:
    return RedirectResponse(BASE, status_code=307)


async def account_link(request: Request) -> Response:
    """`/invite#token` and `/reset-password#token` (links the admin API hands out) open in the UI; the
    browser keeps the fragment across the redirect, and the server never sees it."""
    return RedirectResponse(BASE + request.url.path.lstrip("/"), status_code=307)


async def ui(request: Request) -> Response:
    relative = request.path_params.get("path", "")
    found = _file(relative)
    if found is not None and found.name != "index.html":
        cache = IMMUTABLE if relative.startswith("assets/") else "no-cache"
        return FileResponse(found, headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})
    if relative.startswith("assets/"):  # a missing script must not be answered with HTML
        return error_response(404, "not_found", f"no UI asset {relative!r}")
    return spa_index()


routes = [
    Route("/", root, methods=["GET", "HEAD"]),
    Route("/invite", account_link, methods=["GET", "HEAD"]),
    Route("/reset-password", account_link, methods=["GET", "HEAD"]),
    Route("/ui", ui, methods=["GET", "HEAD"]),
    Route("/ui/{path:path}", ui, methods=["GET", "HEAD"]),
]

"""The read-only gate: while the node is read-only (lifecycle/readonly.py), every request that writes is answered
503 + Retry-After with the JSON error `read_only`, before routing, authentication or a byte of its body.

A request writes when its method is not GET, HEAD or OPTIONS: every ingest route (native events, OTLP/HTTP,
Langfuse ingestion, scores), every admin write (keys, projects, settings, members, alert rules, prices, deletions,
repricing). Signing in and out of the UI (`SIGN_IN`) stays open, so the UI keeps serving: it writes one session row
in meta.db and nothing else. OTLP/gRPC has no HTTP request: its admission asks `refusal` (api/ingest/admission.py).
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from lynex_box.api.errors import ApiError, error_response
from lynex_box.lifecycle.readonly import ReadOnlyMode

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
SIGN_IN: Final = frozenset({"/api/auth/login", "/api/auth/logout"})


def refusal(mode: ReadOnlyMode | None) -> ApiError | None:
    """The 503 a write gets now, or None when the node takes writes."""
    reason = mode.reason() if mode is not None else None
    if reason is None or mode is None:
        return None
    return ApiError(503, "read_only", reason, {"Retry-After": str(mode.retry_after_s())})


class ReadOnlyGate:
    """ASGI middleware; finds the mode on `app.state.services.read_only` (None before the start completes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS and scope["path"] not in SIGN_IN:
            svc = getattr(scope["app"].state, "services", None)
            refused = refusal(svc.read_only if svc is not None else None)
            if refused is not None:
                response = error_response(refused.status, refused.code, refused.message, refused.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

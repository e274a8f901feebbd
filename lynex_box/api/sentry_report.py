"""Optional error reporting to Sentry (`[sentry] dsn`, the `sentry` extra: `pip install lynex-box[sentry]`).

Off unless a DSN is set, and then nothing a client sent leaves the process: no personal data
(`send_default_pii=False`), no request body (`max_request_body_size="never"`), no local variables of the failing
frames (they hold bodies, keys and span contents), and `scrub` removes from every event whatever request data an
integration attached anyway: the body, cookies, the query string and every credential-bearing header. What remains
is the exception, its stack (code, not values), the route and the server's log lines before it.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from lynex_box import __version__
from lynex_box.config import ConfigError, SentrySettings

log = logging.getLogger("lynex.sentry")

# headers never sent on, whatever their case: credentials, session cookies, CSRF tokens, proxies' client addresses
SECRET_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-csrf-token",
        "x-api-key",
        "x-lynex-key",
        "x-forwarded-for",
        "x-real-ip",
        "forwarded",
    }
)


def scrub(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Remove the request's body, cookies, query string and secret headers from a Sentry event (`before_send`)."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "query_string", "env"):
            request.pop(key, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}
        elif headers is not None:
            request.pop("headers")
    event.pop("user", None)
    return event


def init_sentry(settings: SentrySettings) -> bool:
    """Start reporting when a DSN is set; True when it did. A DSN without the sentry extra is a configuration
    error (a setting that silently does nothing would hide every error it was meant to report)."""
    if not settings.dsn:
        return False
    try:
        import sentry_sdk
    except ImportError as exc:
        raise ConfigError(
            "sentry.dsn is set but sentry-sdk is not installed; hint: pip install 'lynex-box[sentry]', "
            "or leave sentry.dsn empty"
        ) from exc
    sentry_sdk.init(
        dsn=settings.dsn,
        release=f"lynex-box@{__version__}",
        environment=settings.environment or None,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        traces_sample_rate=settings.traces_sample_rate,
        before_send=scrub,  # type: ignore[arg-type]
        before_send_transaction=scrub,  # type: ignore[arg-type]
    )
    log.info("sentry error reporting on environment=%s", settings.environment or "-")
    return True

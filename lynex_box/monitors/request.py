"""One request of a monitor run, under the outbound address policy of alert deliveries (alerts/targets.py).

The URL's host is resolved once and every address checked; the request goes to the checked address (the name
stays in `Host` and TLS), no redirect is followed, at most `max_bytes` of the answer are read, and the whole
exchange is bounded by the monitor's timeout. Everything runs on the event loop through httpx's async client, so
a slow target never holds a thread or the loop. Templates are expanded here (`render`): only the fixed
placeholders, by plain substitution.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from lynex_box.alerts import targets
from lynex_box.monitors.spec import Target

USER_AGENT = "lynex-box-synthetic"


@dataclass(frozen=True, slots=True)
class Exchange:
    """What one request got: `status` None and `error` set when no answer came (refused, timeout, network)."""

    status: int | None
    latency_ms: float
    body: bytes
    error: str | None
    sent: dict[str, Any]  # what was sent, for the run's span (no header values)


def render(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def build(target: Target, values: dict[str, str]) -> tuple[str, str, dict[str, str], bytes | None, dict[str, Any]]:
    """(method, url, headers, body, what the span shows) of the request for `target`."""
    headers = {"User-Agent": USER_AGENT, **target.headers}
    if target.type == "http":
        body = render(target.body, values).encode() if target.body is not None else None
        shown = {"method": target.method, "url": target.url, "body": body.decode() if body else None}
        return target.method, target.url, headers, body, shown
    messages = [{"role": m["role"], "content": render(m["content"], values)} for m in target.messages]
    doc: dict[str, Any] = {"model": target.model, "messages": messages}
    if target.max_tokens is not None:
        doc["max_tokens"] = target.max_tokens
    headers["Content-Type"] = "application/json"
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    url = f"{target.url}/chat/completions"
    return "POST", url, headers, orjson.dumps(doc), {"method": "POST", "url": url, "messages": messages}


async def _exchange(client: httpx.AsyncClient, request: httpx.Request, max_bytes: int) -> tuple[int, bytes, str | None]:
    response = await client.send(request, stream=True)
    try:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                return response.status_code, bytes(body[:max_bytes]), f"the answer is longer than {max_bytes} bytes"
        return response.status_code, bytes(body), None
    finally:
        await response.aclose()


async def send(
    target: Target,
    values: dict[str, str],
    *,
    policy: targets.TargetPolicy,
    timeout_s: float,
    max_bytes: int,
    resolve: targets.Resolver = targets.system_resolve,
) -> Exchange:
    method, url, headers, body, shown = build(target, values)
    started = time.perf_counter()

    def done(status: int | None, data: bytes, error: str | None) -> Exchange:
        return Exchange(status, (time.perf_counter() - started) * 1000, data, error, shown)

    try:
        pinned = await targets.pin(url, policy, resolve)
    except httpx.InvalidURL:
        return done(None, b"", "the URL cannot be parsed")
    except (targets.TargetRefused, targets.TargetUnresolved) as exc:
        return done(None, b"", str(exc))
    headers["Host"] = pinned.host_header
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            request = client.build_request(method, pinned.url, headers=headers, content=body)
            request.extensions.update(pinned.extensions)
            status, data, error = await asyncio.wait_for(_exchange(client, request, max_bytes), timeout_s)
    except (httpx.TimeoutException, TimeoutError):
        return done(None, b"", f"no answer within {timeout_s} s")
    except httpx.HTTPError as exc:
        return done(None, b"", f"{type(exc).__name__}: {exc}".replace(str(pinned.url), url))
    return done(status, data, error)

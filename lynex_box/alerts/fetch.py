"""One GET of a small document at a URL an admin gave, under the same outbound address policy as alert deliveries
(targets.py): the host is resolved once and every address checked, the request goes to the checked address, no
redirect is followed, the answer is read up to a byte limit within a timeout.

Used for what the appliance reads from elsewhere on an admin's word, today a project's trusted JWKS
(lynex_box/auth/jwt_verifier.py, wired in app.py): the policy that keeps an alert webhook from reaching the
appliance's own services or a cloud metadata endpoint applies to those reads too. `post_small` is the same for one
POST, and `blocking_post` its form for plugins (`PluginContext.http_post`, called from their delivery threads).
"""

from __future__ import annotations

import asyncio

import httpx

from lynex_box.alerts import targets
from lynex_box.plugins.context import HttpPost, OutboundRefused


class FetchFailed(Exception):
    """The document could not be had; the message says why (refused address, network, status, size)."""


async def fetch_small(
    url: str,
    *,
    policy: targets.TargetPolicy,
    timeout_s: float,
    max_bytes: int,
    resolve: targets.Resolver = targets.system_resolve,
) -> bytes:
    """The body of a `200` answer to `GET url`; FetchFailed otherwise."""
    try:
        target = await targets.pin(url, policy, resolve)
    except httpx.InvalidURL:
        raise FetchFailed("the URL cannot be parsed") from None
    except (targets.TargetRefused, targets.TargetUnresolved) as exc:
        raise FetchFailed(str(exc)) from None
    headers = {"Host": target.host_header, "Accept": "application/json", "User-Agent": "lynex-box"}
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            request = client.build_request("GET", target.url, headers=headers)
            request.extensions.update(target.extensions)
            response = await client.send(request, stream=True)
            try:
                if response.status_code != 200:
                    raise FetchFailed(f"answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchFailed(f"the answer is longer than {max_bytes} bytes")
            finally:
                await response.aclose()
    except httpx.TimeoutException:
        raise FetchFailed(f"no answer within {timeout_s} s") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}".replace(str(target.url), url)) from None
    return bytes(body)


async def post_small(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    policy: targets.TargetPolicy,
    timeout_s: float,
    max_bytes: int = 65_536,
    resolve: targets.Resolver = targets.system_resolve,
) -> tuple[int, bytes]:
    """POST `body` to `url` under `policy`; the status and the answer's first `max_bytes` bytes (kept only from a
    global address, as a delivery's recorded error). OutboundRefused for a refused address; FetchFailed for an
    unresolvable host, a network error or a timeout (worth retrying)."""
    try:
        target = await targets.pin(url, policy, resolve)
    except httpx.InvalidURL:
        raise OutboundRefused("the URL cannot be parsed") from None
    except targets.TargetRefused as exc:
        raise OutboundRefused(str(exc)) from None
    except targets.TargetUnresolved as exc:
        raise FetchFailed(str(exc)) from None
    sent = {**headers, "Host": target.host_header}
    sent.setdefault("User-Agent", "lynex-box")
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            request = client.build_request("POST", target.url, headers=sent, content=body)
            request.extensions.update(target.extensions)
            response = await client.send(request, stream=True)
            try:
                answer = bytearray()
                async for chunk in response.aiter_bytes():
                    answer += chunk
                    if len(answer) >= max_bytes:
                        break
            finally:
                await response.aclose()
    except httpx.TimeoutException:
        raise FetchFailed(f"no answer within {timeout_s} s") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}".replace(str(target.url), url)) from None
    return response.status_code, bytes(answer[:max_bytes]) if target.public else b""


def blocking_post(policy: targets.TargetPolicy) -> HttpPost:
    """`post_small` for a caller on a thread of its own (a plugin's delivery thread): each call runs on a fresh
    event loop of that thread, never on the server's."""

    def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> tuple[int, bytes]:
        return asyncio.run(post_small(url, body, headers, policy=policy, timeout_s=timeout_s))

    return post

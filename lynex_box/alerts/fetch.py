"""One GET of a small document at a URL an admin gave, under the same outbound address policy as alert deliveries
(targets.py): the host is resolved once and every address checked, the request goes to the checked address, no
redirect is followed, the answer is read up to a byte limit within a timeout.

Used for what the appliance reads from elsewhere on an admin's word, today a project's trusted JWKS
(lynex_box/auth/jwt_verifier.py, wired in app.py): the policy that keeps an alert webhook from reaching the
appliance's own services or a cloud metadata endpoint applies to those reads too.
"""

from __future__ import annotations

import httpx

from lynex_box.alerts import targets


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

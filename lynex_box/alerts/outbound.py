"""One POST from a plugin's own thread under the outbound address policy of alert deliveries (targets.py).

Plugins that send elsewhere (lynex-span-forward, lynex-otlp-export, lynex-datadog) get the policy from their
`PluginContext` and post through here: the host is resolved once, every address is checked, the request goes to
the checked address (the name kept for `Host` and TLS), no redirect is followed. Synchronous, for the plugins'
delivery and batching threads; it must never be called on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import httpx

from lynex_box.alerts import targets


class PostFailed(Exception):
    """The POST did not get a 2xx answer; `retryable` is False when trying again cannot help (a refused address,
    an answer of 4xx other than 408 and 429)."""

    def __init__(self, message: str, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable, self.status = retryable, status


def post(
    client: httpx.Client,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    policy: targets.TargetPolicy,
    resolve: targets.Resolver = targets.system_resolve,
) -> httpx.Response:
    """The 2xx answer to `POST url`; PostFailed otherwise (the message names the URL, never the content)."""
    try:
        target = asyncio.run(targets.pin(url, policy, resolve))
    except httpx.InvalidURL:
        raise PostFailed(f"{url!r} cannot be parsed as a URL", retryable=False) from None
    except targets.TargetRefused as exc:
        raise PostFailed(f"POST {url} refused: {exc}", retryable=False) from None
    except targets.TargetUnresolved as exc:
        raise PostFailed(f"POST {url}: {exc}", retryable=True) from None
    request = client.build_request("POST", target.url, content=content, headers={**headers, "Host": target.host_header})
    request.extensions.update(target.extensions)
    try:
        answer = client.send(request)
    except httpx.HTTPError as exc:
        raise PostFailed(f"POST {url}: {type(exc).__name__}: {exc}".replace(str(target.url), url), True) from None
    if 200 <= answer.status_code < 300:
        return answer
    code = answer.status_code
    retryable = code >= 500 or code in (408, 429)
    detail = f": {answer.text[:200]!r}" if target.public else ""  # as delivery.py: an internal answer is not kept
    raise PostFailed(f"POST {url} answered {code}{detail}", retryable, code)


START_WAIT_S = 30.0  # how long a send waits for the plugin's context (the WAL replay emits topics before it)


class Outbound:
    """A plugin's HTTP sender: the policy comes with `lynex_started` (`started(context)`); a send before it waits at
    most START_WAIT_S for it, then goes with the default policy (global addresses only), which is also what an
    out-of-process plugin, which gets no context, uses."""

    def __init__(self, timeout_s: float, user_agent: str) -> None:
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False, headers={"User-Agent": user_agent})
        self.policy = targets.TargetPolicy()
        self._ready = threading.Event()

    def started(self, context: Any) -> None:
        """Take the `PluginContext`'s `target_policy` (None: the default)."""
        policy = getattr(context, "target_policy", None)
        if policy is not None:
            self.policy = policy
        self._ready.set()

    def post(self, url: str, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        if not self._ready.wait(START_WAIT_S):
            self._ready.set()  # no context came (out of process): the default policy from now on, no more waiting
        return post(self.client, url, content, headers, self.policy)

"""One POST from a plugin's own thread under the outbound address policy of alert deliveries (targets.py).

Plugins that send elsewhere (lynex-span-forward, lynex-otlp-export, lynex-datadog) get the policy from their
`PluginContext` and post through here, which sends with `fetch.post_small` (as `PluginContext.http_post` does): the
host is resolved once, every address is checked, the request goes to the checked address (the name kept for `Host`
and TLS), no redirect is followed; here an answer other than 2xx raises, with whether to try again. Synchronous,
for the plugins' delivery and batching threads; it must never be called on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

from lynex_box.alerts import targets
from lynex_box.alerts.fetch import FetchFailed, post_small
from lynex_box.plugins.context import OutboundRefused


class PostFailed(Exception):
    """The POST did not get a 2xx answer; `retryable` is False when trying again cannot help (a refused address,
    an answer of 4xx other than 408 and 429)."""

    def __init__(self, message: str, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable, self.status = retryable, status


def post(
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    policy: targets.TargetPolicy,
    timeout_s: float,
    resolve: targets.Resolver = targets.system_resolve,
) -> tuple[int, bytes]:
    """The 2xx answer (status, body) to `POST url`, sent by `fetch.post_small` (the one guarded POST) on a fresh
    event loop of the calling thread; PostFailed otherwise (the message names the URL, never the content)."""
    try:
        code, answer = asyncio.run(post_small(url, content, dict(headers), policy=policy, timeout_s=timeout_s,
                                              resolve=resolve))  # fmt: skip
    except OutboundRefused as exc:
        raise PostFailed(f"POST {url} refused: {exc}", retryable=False) from None
    except FetchFailed as exc:
        raise PostFailed(f"POST {url}: {exc}", retryable=True) from None
    if 200 <= code < 300:
        return code, answer
    detail = f": {answer[:200]!r}" if answer else ""  # post_small keeps no answer from an internal address
    raise PostFailed(f"POST {url} answered {code}{detail}", code >= 500 or code in (408, 429), code)


START_WAIT_S = 30.0  # how long a send waits for the plugin's context (the WAL replay emits topics before it)


class Outbound:
    """A plugin's HTTP sender: the policy comes with `lynex_started` (`started(context)`); a send before it waits at
    most START_WAIT_S for it, then goes with the default policy (global addresses only), which is also what an
    out-of-process plugin, which gets no context, uses."""

    def __init__(self, timeout_s: float, user_agent: str) -> None:
        self.timeout_s, self.user_agent = timeout_s, user_agent
        self.policy = targets.TargetPolicy()
        self._ready = threading.Event()

    def started(self, context: Any) -> None:
        """Take the `PluginContext`'s `target_policy` (None: the default)."""
        policy = getattr(context, "target_policy", None)
        if policy is not None:
            self.policy = policy
        self._ready.set()

    def post(self, url: str, content: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        if not self._ready.wait(START_WAIT_S):
            self._ready.set()  # no context came (out of process): the default policy from now on, no more waiting
        return post(url, content, {"User-Agent": self.user_agent, **headers}, self.policy, self.timeout_s)

"""Bounds on receiving request bodies: a time limit per body and a cap on bodies in flight per client address.

A client that sends its body a byte every few seconds holds a connection, a task and a buffer for as long as it
likes, and a thousand such uploads from one address cost the server a thousand of each. Plain ASGI around the app,
so every route that reads a body is covered, whatever it reads it with:

- Time. A body must arrive within `[server] body_timeout_s`, plus one second for every `body_min_bytes_per_s` bytes
  received (so a large upload at a sane rate is never cut, while a trickle is), and no wait for the next chunk may
  last longer than `body_idle_timeout_s`. Past either, the read raises ApiError 408, which the app answers with
  `Connection: close`.
- Concurrency. At most `max_bodies_per_client` bodies are being received at once from one client address; one more
  is answered 429 with Retry-After before any of its body is read, and its connection is closed. (Behind a reverse
  proxy every client has the proxy's address: raise the cap there, or set 0 and let the proxy bound slow bodies.)

A request counts from its arrival until its last body chunk arrives (or it ends). The guard never reads a body itself
and never buffers one; a request without a body passes untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lynex_box.api.errors import ApiError, error_response
from lynex_box.config import ServerSettings

log = logging.getLogger("lynex.api")

RETRY_AFTER_S = 1
_CLOSE = {"Connection": "close"}


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class _Body:
    """The `receive` of one request, timed while its body is still arriving."""

    def __init__(self, receive: Receive, settings: ServerSettings, release: Callable[[], None]) -> None:
        self._receive = receive
        self._settings = settings
        self._release = release
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self.received = 0
        self.done = False

    def finish(self) -> None:
        if not self.done:
            self.done = True
            self._release()

    async def receive(self) -> Message:
        if self.done:
            return await self._receive()
        s = self._settings
        deadline = self._started + s.body_timeout_s + self.received / s.body_min_bytes_per_s
        wait = min(s.body_idle_timeout_s, deadline - self._loop.time())
        try:
            async with asyncio.timeout(max(wait, 0.0)):
                message = await self._receive()
        except TimeoutError:
            self.finish()
            elapsed = self._loop.time() - self._started
            log.info("request body too slow received=%d elapsed_s=%.1f", self.received, elapsed)
            raise ApiError(
                408,
                "body_timeout",
                f"the request body did not arrive in time ({self.received} bytes in {elapsed:.0f} s); hint: send "
                f"it within [server] body_timeout_s = {s.body_timeout_s:g} s plus 1 s per "
                f"{s.body_min_bytes_per_s} bytes, without pauses over {s.body_idle_timeout_s:g} s",
                _CLOSE,
            ) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.finish()
        else:  # http.disconnect: Starlette raises ClientDisconnect, the app logs it
            self.finish()
        return message


class BodyGuard:
    """ASGI middleware: `[server]` body timeouts and the per-address cap on bodies in flight."""

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings
        self._in_flight: dict[str, int] = {}  # client address -> bodies being received

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else ""
        cap = self.settings.max_bodies_per_client
        if cap and self._in_flight.get(address, 0) >= cap:
            log.debug("request body refused: too many in flight client=%s cap=%d", address, cap)
            refusal = error_response(
                429,
                "too_many_uploads",
                f"more than {cap} request bodies in flight from {address}; retry later; hint: [server] "
                "max_bodies_per_client sets the cap",
                {"Retry-After": str(RETRY_AFTER_S), **_CLOSE},
            )
            await refusal(scope, receive, send)
            return
        self._in_flight[address] = self._in_flight.get(address, 0) + 1
        body = _Body(receive, self.settings, lambda: self._release(address))
        try:
            await self.app(scope, body.receive, send)
        finally:
            body.finish()

    def _release(self, address: str) -> None:
        left = self._in_flight.get(address, 0) - 1
        if left > 0:
            self._in_flight[address] = left
        else:
            self._in_flight.pop(address, None)

    def in_flight(self, address: str) -> int:
        return self._in_flight.get(address, 0)

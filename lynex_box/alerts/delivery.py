"""Delivers notifications to webhook, Slack and email channels: asynchronously, retried, every outcome recorded.

Each delivery is an asyncio task of its own, so neither the evaluator nor a request waits on a slow receiver.
HTTP goes through one `httpx.AsyncClient` (no redirects followed: a redirect could lead to an address the
checks refused); SMTP and meta.db writes run in threads. A failed attempt is retried after
`delivery_backoff_s`, doubling up to `delivery_backoff_max_s`, until `delivery_attempts`; answers that
retrying cannot fix (4xx other than 408 and 429, a refused target) end it at once. Before every attempt the
URL's host is resolved and refused when it is a loopback, private or link-local address, unless
`allow_private_targets`. Errors recorded or logged never include a URL or a secret.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol, TypeVar

import apsw
import httpx

from lynex_box.alerts import history, payloads, store
from lynex_box.alerts.payloads import Notification
from lynex_box.alerts.rules import Channel, is_private_address, redact_url
from lynex_box.alerts.sealing import SealError, SecretBox
from lynex_box.alerts.store import StoredRule
from lynex_box.config import AlertsSettings
from lynex_box.meta.db import MetaDB

log = logging.getLogger("lynex.alerts")
T = TypeVar("T")


class MailSender(Protocol):
    """What email channels need of the `[smtp]` mailer: one blocking attempt that raises on failure."""

    def send_now(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    response_status: int | None = None
    error: str | None = None
    permanent: bool = False


class Deliverer:
    """Sends notifications; `close()` cancels deliveries still waiting (they are failed on the next start)."""

    def __init__(
        self,
        db: MetaDB,
        box: SecretBox,
        settings: AlertsSettings,
        mailer: MailSender | None = None,
        sender: str = "",
    ) -> None:
        self.db = db
        self.box = box
        self.settings = settings
        self.mailer = mailer
        self.sender = sender
        self._client = httpx.AsyncClient(timeout=settings.delivery_timeout_s, follow_redirects=False)
        self._slots = asyncio.Semaphore(settings.max_concurrent_deliveries)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _write(self, fn: Callable[[apsw.Connection], T]) -> T:
        return await asyncio.to_thread(self.db.write, fn)

    def dispatch(self, rule: StoredRule, note: Notification) -> None:
        """Start delivering `note` to every channel of `rule` in the background."""
        task = asyncio.create_task(self._dispatch(rule, note), name=f"alert-{rule.id}-{note.event}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch(self, rule: StoredRule, note: Notification) -> None:
        try:
            channels = store.open_channels(rule, self.box)
        except SealError as exc:
            log.error("alert channels unreadable rule=%s error=%s", rule.id, exc)
            for channel in rule.spec.channels:
                await self._record_failure(rule, note, channel, str(exc))
            return
        await asyncio.gather(*(self.deliver(rule, note, c, self.settings.delivery_attempts) for c in channels))

    async def _record_failure(self, rule: StoredRule, note: Notification, channel: Channel, error: str) -> None:
        firing_id = note.firing["id"] if note.firing else None
        delivery_id = await self._write(lambda c: history.add_delivery(c, rule, firing_id, channel, note.event))
        await self._write(lambda c: history.record_attempt(c, delivery_id, "failed", 0, None, error))

    async def deliver(self, rule: StoredRule, note: Notification, channel: Channel, attempts: int) -> dict[str, Any]:
        """Deliver to one channel with up to `attempts` tries; the delivery record as it ends."""
        firing_id = note.firing["id"] if note.firing else None
        delivery_id = await self._write(lambda c: history.add_delivery(c, rule, firing_id, channel, note.event))
        delay = self.settings.delivery_backoff_s
        outcome = Outcome(False, error="not attempted")
        for attempt in range(1, attempts + 1):
            async with self._slots:
                outcome = await self._attempt(channel, note, delivery_id)
            final = outcome.ok or outcome.permanent or attempt == attempts
            status = "delivered" if outcome.ok else "failed" if final else "pending"
            await self._write(
                lambda c, s=status, n=attempt, o=outcome: history.record_attempt(  # type: ignore[misc]
                    c, delivery_id, s, n, o.response_status, o.error
                )
            )
            level = logging.INFO if outcome.ok else logging.WARNING
            log.log(
                level,
                "alert delivery rule=%s channel=%s event=%s attempt=%d status=%s error=%s",
                rule.id,
                channel.id,
                note.event,
                attempt,
                status,
                outcome.error or "",
            )
            if final:
                break
            await asyncio.sleep(min(delay, self.settings.delivery_backoff_max_s))
            delay *= 2
        return {
            "delivery_id": delivery_id,
            "channel_id": channel.id,
            "channel_type": channel.type,
            "status": "delivered" if outcome.ok else "failed",
            "response_status": outcome.response_status,
            "error": outcome.error,
        }

    async def _attempt(self, channel: Channel, note: Notification, delivery_id: str) -> Outcome:
        if channel.type == "email":
            return await self._email(channel, note)
        if not channel.url:
            return Outcome(False, error="the channel has no URL; set it again", permanent=True)
        refused = await self._check_target(channel.url)
        if refused is not None:
            return refused
        if channel.type == "slack":
            body = payloads.slack_body(note)
            headers = {"Content-Type": "application/json", "User-Agent": "lynex-box-alerts"}
        else:
            body = payloads.webhook_body(note, delivery_id)
            headers = payloads.webhook_headers(note, delivery_id, body, channel.secret)
        try:
            response = await self._client.post(channel.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome(False, error=f"timed out after {self.settings.delivery_timeout_s}s")
        except httpx.HTTPError as exc:
            text = str(exc).replace(channel.url, redact_url(channel.url))
            return Outcome(False, error=f"{type(exc).__name__}: {text}"[:300])
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(True, code)
        snippet = response.text[:200].replace("\n", " ") if response.content else ""
        retry = code in (408, 429) or code >= 500
        return Outcome(False, code, f"HTTP {code}" + (f": {snippet}" if snippet else ""), permanent=not retry)

    async def _check_target(self, url: str) -> Outcome | None:
        """None when the URL's host may be called; a permanent failure when it resolves to a private address."""
        if self.settings.allow_private_targets:
            return None
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            return Outcome(False, error=f"cannot resolve the URL's host: {exc}")
        if any(is_private_address(str(info[4][0])) for info in infos):
            return Outcome(
                False,
                permanent=True,
                error=(
                    "the URL's host resolves to a loopback, private or link-local address; hint: an operator can "
                    "allow that with [alerts] allow_private_targets = true"
                ),
            )
        return None

    async def _email(self, channel: Channel, note: Notification) -> Outcome:
        if self.mailer is None:
            return Outcome(False, error="email is not configured on this instance ([smtp] is off)", permanent=True)
        message = payloads.email_message(note, self.sender, channel.to)
        try:
            await asyncio.to_thread(self.mailer.send_now, message)
        except Exception as exc:  # the mailer's MailError says whether trying again can help
            return Outcome(False, error=str(exc)[:300], permanent=bool(getattr(exc, "permanent", False)))
        return Outcome(True)

    async def test(self, rule: StoredRule, note: Notification) -> list[dict[str, Any]]:
        """One attempt per channel, awaited, recorded like any delivery (event `test`)."""
        channels = store.open_channels(rule, self.box)
        return list(await asyncio.gather(*(self.deliver(rule, note, c, 1) for c in channels)))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

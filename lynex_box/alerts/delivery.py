"""Delivers notifications to a rule's channels: asynchronously, retried, every outcome recorded.

What a channel sends, and how, is its channel type's (a plugin's `lynex_notification_channels()`, found by the plugin
host and handed in by app.py; the built-in Slack, email and webhook types are plugins/lynex-channels). This module
owns what every channel shares: the unsealing of its secrets, the attempts and their records, and the `Outbound` a
type sends through — the guarded HTTP poster below and the `[smtp]` mailer.

Each delivery is an asyncio task of its own, so neither the evaluator nor a request waits on a slow receiver.
HTTP goes through one `httpx.AsyncClient`; SMTP and meta.db writes run in threads. A failed attempt is retried
after `delivery_backoff_s`, doubling up to `delivery_backoff_max_s`, until `delivery_attempts`; answers that
retrying cannot fix (4xx other than 408 and 429, a redirect, a refused target) end it at once.

Before every attempt the URL's host is resolved once and checked (`targets.py`: global addresses only, unless the
operator opened more), and the request goes to that checked address, never to a second resolution (DNS
rebinding). Redirects are never followed (one could lead to an address the check refused) and connections are
not kept alive (a TLS connection verified for one name must not carry a request for another name on the same
address). A response body is kept (200 characters, in the recorded error) only from a global address. Errors
recorded or logged never include a URL or a secret.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from email.message import EmailMessage
from typing import Any, Protocol, TypeVar

import apsw
import httpx

from lynex_box.alerts import history, payloads, store, targets
from lynex_box.alerts.payloads import Notification
from lynex_box.alerts.rules import Channel, redact_url
from lynex_box.alerts.sealing import SealError, SecretBox
from lynex_box.alerts.store import StoredRule
from lynex_box.config import AlertsSettings
from lynex_box.meta.db import MetaDB
from lynex_box.plugins.channels import ChannelType, Notice, Outcome
from lynex_box.plugins.events import NO_EVENTS, Events

log = logging.getLogger("lynex.alerts")
T = TypeVar("T")
MAX_QUOTED_BYTES = 1024  # of a failed answer's body: enough for 200 characters of UTF-8
LEASE_LOST = "this node lost the alerts lease before the attempt; the node holding it now delivers the notification"

Gate = Callable[[], bool]
"""Asked before every attempt (in cluster mode: does this node still hold the `alerts` lease?); False stops."""
Done = Callable[[bool], Awaitable[None]]
"""Awaited when a dispatch ends: True when every channel finished (delivered or failed for good), False when the
gate stopped one."""


class MailSender(Protocol):
    """What email channels need of the `[smtp]` mailer: one blocking attempt that raises on failure."""

    def send_now(self, message: EmailMessage) -> None: ...


class Ledger(Protocol):
    """Where one kind of notification keeps its delivery records: a rule's in meta.db (`history.py`), the platform
    alerts' in their state file (`platform/state_file.py`)."""

    async def opened(self, channel: Channel, event: str) -> str:
        """Record a pending delivery of `event` to `channel`; its id."""
        ...

    async def attempted(
        self, delivery_id: str, status: str, attempts: int, response_status: int | None, error: str | None
    ) -> None:
        """Record how the delivery stands after attempt number `attempts`."""
        ...


class Deliverer:
    """Sends notifications; `close()` cancels deliveries still waiting (they are failed on the next start)."""

    def __init__(
        self,
        db: MetaDB,
        box: SecretBox,
        settings: AlertsSettings,
        mailer: MailSender | None = None,
        sender: str = "",
        policy: targets.TargetPolicy | None = None,
        resolve: targets.Resolver = targets.system_resolve,
        transport: httpx.AsyncBaseTransport | None = None,
        events: Events = NO_EVENTS,
        channels: Mapping[str, ChannelType] | None = None,
    ) -> None:
        """`policy` defaults to `[alerts]`'s; `resolve` and `transport` are seams for tests (a resolver that
        answers what DNS would, a transport that records what was sent). `events` receives `alert_fired` and
        `alert_resolved` when a notification is dispatched: in cluster mode only the alerts lease holder does.
        `channels` are the channel types by name (the plugin host's); a channel of a type not among them fails."""
        self.db = db
        self.channels: Mapping[str, ChannelType] = channels or {}
        self.events = events
        self.box = box
        self.settings = settings
        self.mailer = mailer
        self.sender = sender
        self.policy = policy if policy is not None else targets.TargetPolicy.from_settings(settings)
        self.resolve = resolve
        self._client = httpx.AsyncClient(
            timeout=settings.delivery_timeout_s,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
        )
        self._slots = asyncio.Semaphore(settings.max_concurrent_deliveries)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _write(self, fn: Callable[[apsw.Connection], T]) -> T:
        return await asyncio.to_thread(self.db.write, fn)

    def dispatch(
        self, rule: StoredRule, note: Notification, gate: Gate | None = None, done: Done | None = None
    ) -> None:
        """Start delivering `note` to every channel of `rule` in the background; `gate` is asked before every
        attempt, `done` awaited at the end (neither when the deliverer closes first)."""
        topic = {"firing": "alert_fired", "renotify": "alert_fired", "resolved": "alert_resolved"}.get(note.event)
        if topic is not None:
            self.events.emit(topic, {
                "project_id": rule.project_id, "rule_id": rule.id, "event": note.event, "rule": note.rule,
                "firing": note.firing, "value": note.value, "sent_at_us": note.sent_at_us, "link": note.link,
            })  # fmt: skip
        task = asyncio.create_task(self._dispatch(rule, note, gate, done), name=f"alert-{rule.id}-{note.event}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch(self, rule: StoredRule, note: Notification, gate: Gate | None, done: Done | None) -> None:
        finished = True
        try:
            channels = store.open_channels(rule, self.box)
        except SealError as exc:
            log.error("alert channels unreadable rule=%s error=%s", rule.id, exc)
            for channel in rule.spec.channels:
                await self._record_failure(rule, note, channel, str(exc))
        else:
            attempts = self.settings.delivery_attempts
            ends = await asyncio.gather(*(self.deliver(rule, note, c, attempts, gate) for c in channels))
            finished = all(end["error"] != LEASE_LOST for end in ends)
        if done is not None:
            await done(finished)

    async def _record_failure(self, rule: StoredRule, note: Notification, channel: Channel, error: str) -> None:
        firing_id = note.firing["id"] if note.firing else None
        delivery_id = await self._write(lambda c: history.add_delivery(c, rule, firing_id, channel, note.event))
        await self._write(lambda c: history.record_attempt(c, delivery_id, "failed", 0, None, error))

    async def deliver(
        self, rule: StoredRule, note: Notification, channel: Channel, attempts: int, gate: Gate | None = None
    ) -> dict[str, Any]:
        """Deliver to one channel with up to `attempts` tries, each only while `gate()` allows; the delivery
        record as it ends."""
        return await self.send(
            channel, note.event, lambda delivery_id: notice(note, delivery_id), _RuleLedger(self, rule, note),
            attempts, gate, f"rule={rule.id}",
        )  # fmt: skip

    async def send(
        self,
        channel: Channel,
        event: str,
        build: Callable[[str], Notice],
        ledger: Ledger,
        attempts: int,
        gate: Gate | None = None,
        subject: str = "",
    ) -> dict[str, Any]:
        """The retry loop every notification shares: a delivery record of `event` opened in `ledger`, up to
        `attempts` tries of `build(delivery_id)` through `channel`'s type (each only while `gate()` allows), every
        attempt recorded; `subject` names what is notified in the log (`rule=…`). The delivery record as it ends."""
        delivery_id = await ledger.opened(channel, event)
        sent = build(delivery_id)
        delay = self.settings.delivery_backoff_s
        outcome = Outcome(False, error="not attempted")
        for attempt in range(1, attempts + 1):
            async with self._slots:
                if gate is not None and not gate():
                    outcome = Outcome(False, error=LEASE_LOST, permanent=True)
                else:
                    outcome = await self._attempt(channel, sent)
            final = outcome.ok or outcome.permanent or attempt == attempts
            status = "delivered" if outcome.ok else "failed" if final else "pending"
            await ledger.attempted(delivery_id, status, attempt, outcome.response_status, outcome.error)
            level = logging.INFO if outcome.ok else logging.WARNING
            log.log(
                level,
                "alert delivery %s channel=%s event=%s attempt=%d status=%s error=%s",
                subject,
                channel.id,
                event,
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

    async def _attempt(self, channel: Channel, sent: Notice) -> Outcome:
        kind = self.channels.get(channel.type)
        if kind is None:
            error = (f"the channel type {channel.type!r} is not loaded on this instance; hint: install and enable "
                     "the plugin that provides it ([plugins] enabled or builtin_channels)")  # fmt: skip
            return Outcome(False, error=error, permanent=True)
        config = {k: v for k, v in channel.config.items() if k in kind.fields}
        hidden = [str(config[k]) for k in kind.secret_fields if config.get(k)]
        try:
            outcome = await kind.send(config, sent, _Outbound(self))
        except Exception as exc:  # a channel's bug is its delivery's failure, never the deliverer's
            # the exception's text is not logged: it may carry the channel's URL or secret
            log.error("alert channel type %s raised %s", channel.type, type(exc).__name__)
            outcome = Outcome(False, error=f"the channel type raised {type(exc).__name__}", permanent=True)
        if outcome.error and any(s in outcome.error for s in hidden):  # a recorded error never carries a secret
            error = outcome.error
            for s in hidden:
                error = error.replace(s, "…")
            outcome = Outcome(outcome.ok, outcome.response_status, error, outcome.permanent)
        return outcome

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """POST to `url` under the address policy: resolved once, checked, sent to the checked address."""
        if not url:
            return Outcome(False, error="the channel has no URL; set it again", permanent=True)
        try:
            target = await targets.pin(url, self.policy, self.resolve)
        except httpx.InvalidURL:
            return Outcome(False, error="the channel's URL cannot be parsed; set it again", permanent=True)
        except targets.TargetRefused as exc:
            return Outcome(False, error=str(exc)[:300], permanent=True)
        except targets.TargetUnresolved as exc:
            return Outcome(False, error=str(exc)[:300])
        sent = dict(headers)
        sent.setdefault("User-Agent", "lynex-box-alerts")
        sent["Host"] = target.host_header
        request = self._client.build_request("POST", target.url, content=body, headers=sent)
        request.extensions.update(target.extensions)
        try:
            response = await self._client.send(request, stream=True)
            try:
                start = await _read_start(response, MAX_QUOTED_BYTES)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            return Outcome(False, error=f"timed out after {self.settings.delivery_timeout_s}s")
        except httpx.HTTPError as exc:
            text = str(exc).replace(url, redact_url(url)).replace(str(target.url), "…")
            return Outcome(False, error=f"{type(exc).__name__}: {text}"[:300])
        return _judge(response.status_code, start, target)

    async def send_mail(self, message: EmailMessage) -> Outcome:
        if self.mailer is None:
            return Outcome(False, error="email is not configured on this instance ([smtp] is off)", permanent=True)
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


class _Outbound:
    """The `Outbound` a channel type sends one attempt through (lynex_box/plugins/channels.py)."""

    def __init__(self, deliverer: Deliverer) -> None:
        self._deliverer = deliverer
        self.sender = deliverer.sender

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        return await self._deliverer.post(url, body, headers)

    async def send_mail(self, message: EmailMessage) -> Outcome:
        return await self._deliverer.send_mail(message)


class _RuleLedger:
    """A rule's delivery records: rows of `alert_deliveries` in meta.db (history.py)."""

    def __init__(self, deliverer: Deliverer, rule: StoredRule, note: Notification) -> None:
        self._deliverer, self._rule = deliverer, rule
        self._firing_id = note.firing["id"] if note.firing else None

    async def opened(self, channel: Channel, event: str) -> str:
        rule, firing_id = self._rule, self._firing_id
        return await self._deliverer._write(lambda c: history.add_delivery(c, rule, firing_id, channel, event))

    async def attempted(
        self, delivery_id: str, status: str, attempts: int, response_status: int | None, error: str | None
    ) -> None:
        await self._deliverer._write(
            lambda c: history.record_attempt(c, delivery_id, status, attempts, response_status, error)
        )


def notice(note: Notification, delivery_id: str) -> Notice:
    """The notification as a channel type sees it."""
    rule = note.rule
    return Notice(
        event=note.event,
        summary=payloads.summary(note),
        link=note.link,
        project_id=rule["project_id"],
        rule_id=rule["id"],
        rule_name=rule["name"],
        notification_id=payloads.notification_id(note, delivery_id),
        delivery_id=delivery_id,
        sent_at_us=note.sent_at_us,
        document=payloads.document(note, delivery_id),
    )


async def _read_start(response: httpx.Response, limit: int) -> bytes:
    """At most `limit` bytes of the body: a receiver cannot make the appliance read or hold more."""
    start = b""
    async for chunk in response.aiter_bytes():
        start += chunk
        if len(start) >= limit:
            break
    return start[:limit]


def _judge(code: int, start: bytes, target: targets.Pinned) -> Outcome:
    """The outcome of an answer. A redirect is not followed and ends the delivery; a body is quoted only from
    a global address (from one the operator opened, the status alone: the appliance must not become a way
    to read internal services)."""
    if 200 <= code < 300:
        return Outcome(True, code)
    if 300 <= code < 400:
        return Outcome(
            False,
            code,
            f"HTTP {code}: redirects are not followed; hint: set the channel's URL to the final address",
            permanent=True,
        )
    snippet = start.decode("utf-8", "replace")[:200].replace("\n", " ") if target.public else ""
    retry = code in (408, 429) or code >= 500
    return Outcome(False, code, f"HTTP {code}" + (f": {snippet}" if snippet else ""), permanent=not retry)

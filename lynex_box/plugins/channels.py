"""The notification channel interface: what a plugin's `lynex_notification_channels()` hook returns, and what the
alerts feature hands a channel when it sends. Pure declarations, no I/O: the plugins layer sits below the alerts.

A channel type checks a rule's channel settings (`validate`), says which of them are sealed at rest (`secret_fields`)
and which are URLs the outbound address policy must allow (`url_fields`), shows the rest (`public`), and sends one
notification (`send`) with the `Outbound` the alerts deliverer hands it: the guarded HTTP poster (address policy,
pinned address, no redirects, bounded answer) and the `[smtp]` mailer. The deliverer owns retries, the delivery
records and the unsealing of secrets; a channel only formats and sends once, and answers an `Outcome`.
docs/plugins.md ("Notification channels") shows how to write one.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended. `permanent` stops the retries (an answer that trying again cannot fix)."""

    ok: bool
    response_status: int | None = None
    error: str | None = None
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification as a channel sees it; `event` is firing, renotify, resolved or test. `document` is the JSON
    document the webhook channel sends (docs/alerts.md): rule, firing with ISO times, value, summary, url."""

    event: str
    summary: str  # one line a person reads: `[FIRING] checkout errors: error rate 0.42 (threshold > 0.1) ...`
    link: str  # the rule in the UI, "" without `[server] public_url`
    project_id: str
    rule_id: str
    rule_name: str
    notification_id: str  # the same on every node and retry of this notification (the idempotency id)
    delivery_id: str  # this channel's delivery record
    sent_at_us: int
    document: Mapping[str, Any] = field(default_factory=dict)


class Outbound(Protocol):
    """What the alerts deliverer gives a channel for one attempt."""

    sender: str  # the `[smtp] from_address`

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """POST `body` to `url` under the outbound address policy; the outcome of the answer (2xx is ok)."""
        ...

    async def send_mail(self, message: EmailMessage) -> Outcome:
        """Send `message` through the `[smtp]` mailer (a permanent failure when email is off)."""
        ...


@runtime_checkable
class ChannelType(Protocol):
    """A kind of notification channel. `name` is the `type` rules use; `fields` every setting a channel of this
    type accepts (`validate` reports any other). Optional attributes the alerts layer reads with defaults:
    `label` (str, shown in the UI), `needs_mailer` (bool: refused unless `[smtp]` is on), `form` (the UI's fields)."""

    name: str
    fields: tuple[str, ...]
    secret_fields: tuple[str, ...]  # sealed at rest, never shown, never in a log or a recorded error
    url_fields: tuple[str, ...]  # checked against the outbound address policy when a rule is saved

    def validate(self, config: Mapping[str, Any]) -> list[str]:
        """The problems of `config` (one channel's settings), each naming the setting; [] when it can be used."""
        ...

    def public(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """What the API shows of a channel: never a secret field, URLs redacted."""
        ...

    async def send(self, config: Mapping[str, Any], notice: Notice, out: Outbound) -> Outcome:
        """One attempt to deliver `notice`; the deliverer retries an outcome that is not ok and not permanent."""
        ...


def redact_url(url: str) -> str:
    """`https://hooks.slack.com/…/Xy9z`: enough to recognise a target, not enough to use it."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    port = f":{parts.port}" if parts.port else ""
    tail = parts.path.rstrip("/")[-4:]
    return f"{parts.scheme}://{host}{port}/…{tail}" if parts.path.strip("/") else f"{parts.scheme}://{host}{port}/"


def unknown_keys(config: Mapping[str, Any], allowed: tuple[str, ...]) -> list[str]:
    """A `validate` helper: the error for settings a channel type does not take, if any."""
    unknown = sorted(set(config) - set(allowed))
    return [f"unknown keys {unknown}; allowed: {', '.join(allowed)}"] if unknown else []

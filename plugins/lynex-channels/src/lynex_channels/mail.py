"""The email channel: a plain-text message to up to 20 recipients, sent through the server's `[smtp]` mailer
(the `Outbound.send_mail` the alerts deliverer hands over); rules may use it only when `[smtp]` is on."""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any, Final

from lynex_box.alerts.payloads import NOTIFICATION_HEADER
from lynex_box.plugins.channels import Notice, Outbound, Outcome, unknown_keys
from lynex_box.plugins.hookspecs import hookimpl
from lynex_channels._common import field

MAX_RECIPIENTS: Final = 20


def address_ok(value: object) -> bool:
    if not isinstance(value, str) or len(value) > 254 or value.count("@") != 1 or any(c in value for c in " \r\n,<>"):
        return False
    local, domain = value.split("@")
    return bool(local) and "." in domain


def message(notice: Notice, sender: str, to: tuple[str, ...]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = notice.summary[:200]
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    firing = notice.document.get("firing")
    if firing is not None:
        msg[NOTIFICATION_HEADER] = notice.notification_id
    lines = [notice.summary, ""]
    if firing is not None:
        lines.append(f"Started: {firing['started_at']}")
        if firing["resolved_at"] is not None:
            lines.append(f"Resolved: {firing['resolved_at']}")
    if notice.link:
        lines.append(f"Open: {notice.link}")
    msg.set_content("\n".join(lines) + "\n")
    return msg


class EmailChannel:
    name = "email"
    label = "Email"
    fields = ("to",)
    secret_fields = ()
    url_fields = ()
    needs_mailer = True
    form = (field("to", "Recipients", "emails", required=True, placeholder="ops@example.com"),)

    def validate(self, config: Mapping[str, Any]) -> list[str]:
        problems = unknown_keys(config, self.fields)
        to = config.get("to")
        if not isinstance(to, list | tuple) or not 1 <= len(to) <= MAX_RECIPIENTS:
            return [*problems, f"to must be a list of 1..{MAX_RECIPIENTS} email addresses"]
        return problems + [f"to[{i}] must be one email address" for i, a in enumerate(to) if not address_ok(a)]

    def public(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"to": list(config.get("to", ()))}

    async def send(self, config: Mapping[str, Any], notice: Notice, out: Outbound) -> Outcome:
        return await out.send_mail(message(notice, out.sender, tuple(config["to"])))


@hookimpl
def lynex_notification_channels() -> list[Any]:
    return [EmailChannel()]

"""The emails the appliance sends: an invitation link and a password reset link. Pure: builds messages only.

Text that an admin chose (an org name) is reduced to one printable line before it reaches a header, so
it cannot add headers. The one-time link is the only secret in a message and appears only in its body.
"""

from __future__ import annotations

import time
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr


def _line(text: str, limit: int = 120) -> str:
    return "".join(c if c.isprintable() else " " for c in text).strip()[:limit]


def _when(epoch_us: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch_us / 1_000_000))


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """ValueError when `to` is not an address SMTP can deliver to (the caller then sends nothing)."""
    message = EmailMessage()
    message["From"] = sender
    try:
        message["To"] = Address(addr_spec=to)
    except (ValueError, HeaderParseError):
        raise ValueError("the email address cannot be used as a recipient") from None
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer
    message.set_content(body)
    return message


def invitation(sender: str, to: str, org_name: str, role: str, url: str, expires_at_us: int) -> EmailMessage:
    org = _line(org_name) or "an organisation"
    body = (
        f"You have been invited to join {org} on Lynex Box as {role}.\n\n"
        f"Open this link to accept the invitation:\n\n{url}\n\n"
        f"The link works once and expires on {_when(expires_at_us)}.\n"
        "If you did not expect this invitation, ignore this email.\n"
    )
    return _message(sender, to, f"Invitation to {org} on Lynex Box", body)


def password_reset(sender: str, to: str, url: str, expires_at_us: int) -> EmailMessage:
    body = (
        "Someone asked to reset the password of your Lynex Box account.\n\n"
        f"Open this link to choose a new password:\n\n{url}\n\n"
        f"The link works once and expires on {_when(expires_at_us)}. Setting a new password signs you out "
        "everywhere.\nIf you did not ask for this, ignore this email: your password stays as it is.\n"
    )
    return _message(sender, to, "Reset your Lynex Box password", body)

"""The built-in channel types (plugins/lynex-channels), by name, for tests that build rules without a server."""

from __future__ import annotations

from typing import Any

from lynex_channels.mail import EmailChannel
from lynex_channels.opsgenie import OpsGenieChannel
from lynex_channels.pagerduty import PagerDutyChannel
from lynex_channels.slack import SlackChannel
from lynex_channels.teams import TeamsChannel
from lynex_channels.webhook import WebhookChannel

CHANNELS: dict[str, Any] = {
    c.name: c
    for c in (WebhookChannel(), SlackChannel(), EmailChannel(), TeamsChannel(), PagerDutyChannel(), OpsGenieChannel())
}

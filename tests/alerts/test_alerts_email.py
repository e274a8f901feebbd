"""Email channels: with `[smtp]` on, a firing rule emails its recipients through a real aiosmtpd server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.alerts.test_alerts_e2e import ENV
from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer
from tests.e2e.smtp_server import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def test_a_firing_rule_emails_its_recipients(smtp: SmtpServer, tmp_path: Path) -> None:
    env = {
        **ENV,
        "LYNEX_SMTP_ENABLED": "true",
        "LYNEX_SMTP_HOST": "127.0.0.1",
        "LYNEX_SMTP_PORT": str(smtp.port),
        "LYNEX_SMTP_SECURITY": "none",
        "LYNEX_SMTP_FROM_ADDRESS": "Lynex Alerts <alerts@example.test>",
    }
    server = RunningServer(tmp_path / "data", env=env)
    server.env["LYNEX_SERVER_PUBLIC_URL"] = server.url
    server.start()
    web = Browsers(server)
    try:
        admin = web.admin()
        rules = f"/api/projects/{server.project}/alerts/rules"
        body = {
            "name": "mail me",
            "metric": "error_count",
            "comparison": "gte",
            "threshold": 1,
            "window_s": 60,
            "interval_s": 1,
            "channels": [{"type": "email", "to": ["ops@example.test", "sre@example.test"]}],
        }
        r = admin.post(rules, json=body)
        assert r.status_code == 201, r.text
        assert r.json()["channels"][0]["to"] == ["ops@example.test", "sre@example.test"]
        events = {"events": [{"name": "mailed", "status": "error"}]}
        url = f"{server.url}/v1/projects/{server.project}/events"
        assert httpx.post(url, json=events, headers=server.headers()).status_code == 202
        (message,) = smtp.inbox.wait_for(1, timeout=15)
        assert message["From"] == "Lynex Alerts <alerts@example.test>"
        assert message["To"] == "ops@example.test, sre@example.test"
        assert message["Subject"].startswith("[FIRING] mail me: errors 1 (threshold ≥ 1)")
        assert f"Open: {server.url}/ui/alerts?rule={r.json()['id']}" in message.get_content()
    finally:
        web.close()
        server.stop()

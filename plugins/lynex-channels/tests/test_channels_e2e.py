"""Every built-in channel type end to end: a real Lynex Box server (the channel plugins loaded by default, through
`[plugins] builtin_channels`) fires and resolves one rule with a channel of each type, and real receivers started
here get what each type sends: HTTP servers for webhook, Slack, Teams, PagerDuty and OpsGenie, aiosmtpd for email.

The server allows the loopback receivers through `[alerts] allowed_target_networks`, like tests/alerts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.alerts.receiver import Received, Receiver
from tests.alerts.test_alerts_e2e import ENV
from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer
from tests.e2e.smtp_server import SmtpServer

SECRET = "channel-signing-secret-0123"
ROUTING_KEY = "R0UT1NGKEY" + "x" * 22
GENIE_KEY = "genie-" + secrets.token_hex(8)


@dataclass
class World:
    server: RunningServer
    admin: httpx.Client
    receiver: Receiver
    smtp: SmtpServer

    @property
    def alerts(self) -> str:
        return f"/api/projects/{self.server.project}/alerts"

    def ingest(self, name: str, errors: int) -> None:
        events = [{"name": name, "status": "error", "error": {"message": "boom"}} for _ in range(errors)]
        url = f"{self.server.url}/v1/projects/{self.server.project}/events"
        r = httpx.post(url, json={"events": events}, headers=self.server.headers())
        assert r.status_code == 202, r.text


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    receiver = Receiver().start()
    smtp = SmtpServer().start()
    env = {
        **ENV,
        "LYNEX_SMTP_ENABLED": "true",
        "LYNEX_SMTP_HOST": "127.0.0.1",
        "LYNEX_SMTP_PORT": str(smtp.port),
        "LYNEX_SMTP_SECURITY": "none",
        "LYNEX_SMTP_FROM_ADDRESS": "Lynex Alerts <alerts@example.test>",
    }
    server = RunningServer(tmp_path_factory.mktemp("channels") / "data", env=env)
    server.env["LYNEX_SERVER_PUBLIC_URL"] = server.url
    server.start()
    web = Browsers(server)
    try:
        yield World(server, web.admin(), receiver, smtp)
    finally:
        web.close()
        server.stop()
        smtp.stop()
        receiver.stop()


def _rule(w: World, name: str, channels: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    body = {"name": name, "metric": "error_count", "comparison": "gte", "threshold": 1, "window_s": 5,
            "interval_s": 1, "filters": {"name": name}, "channels": channels, **extra}  # fmt: skip
    return w.admin.post(f"{w.alerts}/rules", json=body)


def _wait(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def _signed(r: Received) -> bool:
    timestamp = r.headers["x-lynex-timestamp"]
    mac = hmac.new(SECRET.encode(), timestamp.encode() + b"." + r.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(r.headers.get("x-lynex-signature", ""), f"sha256={mac}")


def test_the_channel_types_are_the_loaded_plugins(w: World) -> None:
    r = w.admin.get(f"{w.alerts}/channel-types")
    assert r.status_code == 200, r.text
    types = {t["type"]: t for t in r.json()["items"]}
    assert sorted(types) == ["email", "opsgenie", "pagerduty", "slack", "teams", "webhook"]
    assert all(t["available"] for t in types.values())  # [smtp] is on here
    assert [f["name"] for f in types["pagerduty"]["fields"]] == ["routing_key", "severity", "events_url"]
    plugins = {p["name"]: p for p in w.admin.get("/v1/plugins").json()["items"]}
    assert plugins["channel-pagerduty"]["state"] == "loaded"  # without [plugins] enabled naming it
    assert "lynex_notification_channels" in plugins["channel-pagerduty"]["hooks"]


def test_a_rule_fires_and_resolves_through_every_channel_type(w: World) -> None:
    tag = secrets.token_hex(4)
    hook, slack, teams = f"/hook/{tag}", f"/slack/{tag}", f"/teams/{tag}"
    pd_url, og_base = f"{w.receiver.url}/pd/{tag}/v2/enqueue", f"{w.receiver.url}/og/{tag}"
    channels = [
        {"type": "webhook", "url": w.receiver.url + hook, "secret": SECRET},
        {"type": "slack", "url": w.receiver.url + slack},
        {"type": "email", "to": ["ops@example.test"]},
        {"type": "teams", "url": w.receiver.url + teams},
        {"type": "pagerduty", "routing_key": ROUTING_KEY, "severity": "critical", "events_url": pd_url},
        {"type": "opsgenie", "api_key": GENIE_KEY, "priority": "P2", "api_base": og_base},
    ]
    r = _rule(w, f"every-channel-{tag}", channels)
    assert r.status_code == 201, r.text
    rule = r.json()
    shown = str(rule)
    assert ROUTING_KEY not in shown and GENIE_KEY not in shown and SECRET not in shown and hook not in shown
    assert [c.get("severity") or c.get("priority") for c in rule["channels"][4:]] == ["critical", "P2"]
    w.ingest(f"every-channel-{tag}", errors=2)

    fired = w.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.firing")
    assert _signed(fired) and fired.headers["x-lynex-notification"] == fired.json()["notification_id"]
    assert "FIRING" in w.receiver.wait_for(slack, lambda r: True).json()["text"]
    card = w.receiver.wait_for(teams, lambda r: True).json()
    assert card["type"] == "message"
    [attachment] = card["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["body"][0]["text"].startswith("[FIRING] every-channel-")
    assert attachment["content"]["actions"][0]["url"] == f"{w.server.url}/ui/alerts?rule={rule['id']}"
    trigger = w.receiver.wait_for(f"/pd/{tag}/v2/enqueue", lambda r: r.json()["event_action"] == "trigger").json()
    assert trigger["routing_key"] == ROUTING_KEY and trigger["payload"]["severity"] == "critical"
    assert trigger["dedup_key"] == f"lynex-box/{w.server.project}/{rule['id']}"
    assert trigger["payload"]["summary"].startswith("[FIRING]")
    created = w.receiver.wait_for(f"/og/{tag}/v2/alerts", lambda r: True)
    assert created.headers["authorization"] == f"GenieKey {GENIE_KEY}"
    alias = created.json()["alias"]
    assert alias == f"lynex-box/{w.server.project}/{rule['id']}" and created.json()["priority"] == "P2"

    # no new spans: once they leave the 5 s window the rule resolves and every channel is told
    resolved = w.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.resolved", timeout=30)
    assert _signed(resolved) and resolved.json()["firing"]["id"] == fired.json()["firing"]["id"]
    assert "RESOLVED" in w.receiver.wait_for(slack, lambda r: "RESOLVED" in r.json()["text"]).json()["text"]
    w.receiver.wait_for(teams, lambda r: "[RESOLVED]" in r.json()["attachments"][0]["content"]["body"][0]["text"])
    resolve = w.receiver.wait_for(f"/pd/{tag}/v2/enqueue", lambda r: r.json()["event_action"] == "resolve").json()
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
    close = f"/og/{tag}/v2/alerts/{urllib.parse.quote(alias, safe='')}/close?identifierType=alias"
    closed = w.receiver.wait_for(close, lambda r: True)
    assert closed.headers["authorization"] == f"GenieKey {GENIE_KEY}" and closed.json()["source"] == "Lynex Box"
    mails = [m for m in w.smtp.inbox.wait_for(2, timeout=20) if f"every-channel-{tag}" in m["Subject"]]
    assert [m["Subject"][:10] for m in mails] == ["[FIRING] e", "[RESOLVED]"]
    assert mails[0]["X-Lynex-Notification"] == fired.json()["notification_id"]

    def settled() -> list[dict[str, Any]]:
        items = w.admin.get(f"{w.alerts}/deliveries", params={"rule_id": rule["id"]}).json()["items"]
        return items if len(items) == 12 and all(d["status"] != "pending" for d in items) else []

    got = sorted((d["event"], d["channel_type"], d["status"]) for d in _wait(settled))
    kinds = ["email", "opsgenie", "pagerduty", "slack", "teams", "webhook"]
    assert got == [(e, k, "delivered") for e in ("firing", "resolved") for k in kinds]


def test_a_patch_by_id_keeps_sealed_settings_and_a_test_uses_its_own_key(w: World) -> None:
    tag = secrets.token_hex(4)
    pd_url = f"{w.receiver.url}/pd/{tag}/v2/enqueue"
    r = _rule(w, f"patch-{tag}", [{"type": "pagerduty", "routing_key": ROUTING_KEY, "events_url": pd_url}])
    assert r.status_code == 201, r.text
    rule, channel_id = r.json(), r.json()["channels"][0]["id"]
    patched = w.admin.patch(
        f"{w.alerts}/rules/{rule['id']}", json={"channels": [{"id": channel_id, "severity": "info"}]}
    )
    assert patched.status_code == 200 and patched.json()["channels"][0]["severity"] == "info", patched.text
    [result] = w.admin.post(f"{w.alerts}/rules/{rule['id']}/test").json()["items"]
    assert result["status"] == "delivered", result
    [sent] = w.receiver.on(f"/pd/{tag}/v2/enqueue")
    doc = sent.json()
    assert doc["routing_key"] == ROUTING_KEY and doc["payload"]["severity"] == "info"
    assert doc["dedup_key"] == f"lynex-box/{w.server.project}/{rule['id']}/test/{result['delivery_id']}"


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"type": "pagerduty"}, "channels[0].routing_key must be a string"),
        ({"type": "pagerduty", "routing_key": "k", "severity": "sev1"}, "channels[0].severity must be one of"),
        ({"type": "opsgenie", "api_key": "k", "priority": "P9"}, "channels[0].priority must be one of"),
        ({"type": "opsgenie", "api_key": "k", "api_base": "http://10.0.0.1/"}, "channels[0].api_base: host"),
        ({"type": "teams", "url": "http://169.254.169.254/x"}, "link-local"),
        ({"type": "teams", "url": "https://teams.example.com/x", "color": "red"}, "unknown keys ['color']"),
        ({"type": "carrier-pigeon"}, "channels[0].type must be one of"),
    ],
)
def test_bad_channel_settings_are_a_400_naming_the_setting(w: World, channel: dict[str, Any], message: str) -> None:
    r = _rule(w, "bad", [channel])
    assert r.status_code == 400 and message in r.json()["error"]["message"], r.text

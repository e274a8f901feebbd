"""Alerts end to end: the real server evaluates rules over ingested spans and notifies a real HTTP receiver.

The server runs with a 0.2 s scheduler tick, 1 s rule intervals and short delivery backoff, so a rule fires
and resolves within seconds. Each test filters its rules by a span name of its own, so tests sharing the
server do not see each other's spans.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.alerts.receiver import REDIRECT_BODY, Received, Receiver
from tests.e2e.accounts import Browsers, me
from tests.e2e.server import RunningServer

ENV = {
    "LYNEX_ALERTS_TICK_S": "0.2",
    "LYNEX_ALERTS_MIN_INTERVAL_S": "1",
    "LYNEX_ALERTS_DELIVERY_BACKOFF_S": "0.05",
    "LYNEX_ALERTS_DELIVERY_ATTEMPTS": "3",
    "LYNEX_ALERTS_ALLOWED_TARGET_NETWORKS": "127.0.0.1/32",  # the receiver, and nothing else (test_targets_e2e)
}
SECRET = "s3cret-for-signing-" + "x" * 8


@dataclass
class World:
    server: RunningServer
    web: Browsers
    admin: httpx.Client
    org: str
    receiver: Receiver

    @property
    def rules(self) -> str:
        return f"/api/projects/{self.server.project}/alerts/rules"

    def ingest(self, name: str, errors: int, ok: int = 0, project: str | None = None, key: str | None = None) -> None:
        events = [{"name": name, "status": "error", "error": {"message": "boom"}} for _ in range(errors)]
        events += [{"name": name, "status": "ok"} for _ in range(ok)]
        url = f"{self.server.url}/v1/projects/{project or self.server.project}/events"
        r = httpx.post(url, json={"events": events}, headers=self.server.headers(key))
        assert r.status_code == 202 and r.json()["accepted"] == len(events), r.text

    def create(self, client: httpx.Client | None = None, path: str | None = None, **rule: Any) -> dict[str, Any]:
        body = {"comparison": "gte", "interval_s": 1, "window_s": 60, **rule}
        r = (client or self.admin).post(path or self.rules, json=body)
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    receiver = Receiver().start()
    server = RunningServer(tmp_path_factory.mktemp("alerts") / "data", env=ENV).start()
    web = Browsers(server)
    admin = web.admin()
    try:
        yield World(server, web, admin, me(admin)["orgs"][0]["id"], receiver)
    finally:
        web.close()
        server.stop()
        receiver.stop()


def _wait(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def _verify(r: Received) -> None:
    """What a receiver does with the documented signature: HMAC-SHA256 over `<timestamp>.<body>`."""
    timestamp = r.headers["x-lynex-timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + r.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(r.headers["x-lynex-signature"], f"sha256={expected}")
    assert abs(int(timestamp) - time.time()) < 60


def test_a_rule_fires_on_errors_and_resolves_when_the_window_passes(w: World) -> None:
    hook, slack = f"/hook/{secrets.token_hex(4)}", f"/slack/{secrets.token_hex(4)}"
    channels = [
        {"type": "webhook", "url": w.receiver.url + hook, "secret": SECRET},
        {"type": "slack", "url": w.receiver.url + slack},
    ]
    rule = w.create(
        name="checkout errors",
        metric="error_count",
        threshold=3,
        window_s=5,
        filters={"name": "checkout"},
        channels=channels,
    )
    assert rule["state"] == "ok" and [c["signed"] for c in rule["channels"]] == [True, False]
    assert SECRET not in str(rule) and hook not in str(rule)  # neither the secret nor the full URL come back
    w.ingest("checkout", errors=3, ok=2)
    w.ingest("other", errors=5)  # filtered out by name
    fired = w.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.firing")
    _verify(fired)
    doc = fired.json()
    assert doc["rule"]["id"] == rule["id"] and doc["project_id"] == w.server.project and doc["value"] == 3
    assert doc["firing"]["state"] == "firing" and fired.headers["x-lynex-event"] == "alert.firing"
    note = w.receiver.wait_for(slack, lambda r: "FIRING" in r.json()["text"]).json()
    assert "checkout errors" in note["text"] and note["blocks"][0]["type"] == "section"
    assert w.admin.get(f"{w.rules}/{rule['id']}").json()["state"] == "firing"
    # no new spans: once they leave the 5 s window the rule resolves, and the receiver is told
    resolved = w.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.resolved")
    _verify(resolved)
    assert resolved.json()["firing"]["id"] == doc["firing"]["id"] and resolved.json()["value"] == 0
    firings = w.admin.get(f"/api/projects/{w.server.project}/alerts/firings", params={"rule_id": rule["id"]})
    [firing] = firings.json()["items"]
    assert (firing["state"], firing["value"], firing["resolved_value"]) == ("resolved", 3, 0)
    assert firing["resolved_at"] > firing["started_at"]
    deliveries = w.admin.get(f"/api/projects/{w.server.project}/alerts/deliveries", params={"rule_id": rule["id"]})
    got = sorted((d["event"], d["channel_type"], d["status"]) for d in deliveries.json()["items"])
    assert got == [
        ("firing", "slack", "delivered"),
        ("firing", "webhook", "delivered"),
        ("resolved", "slack", "delivered"),
        ("resolved", "webhook", "delivered"),
    ]
    assert len(w.receiver.on(hook)) == 2  # once on fire, once on resolve: no repeats while firing


def test_an_error_rate_rule_resolves_when_spans_stop_erroring(w: World) -> None:
    hook = f"/hook/{secrets.token_hex(4)}"
    rule = w.create(
        name="rate",
        metric="error_rate",
        comparison="gt",
        threshold=0.5,
        window_s=120,
        filters={"name": "rate-check"},
        channels=[{"type": "webhook", "url": w.receiver.url + hook}],
    )
    w.ingest("rate-check", errors=2)
    assert w.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.firing").json()["value"] == 1.0
    w.ingest("rate-check", errors=0, ok=8)  # 2 errors of 10 spans: 0.2, under the threshold
    resolved = w.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.resolved").json()
    assert resolved["value"] == pytest.approx(0.2)
    assert "x-lynex-signature" not in w.receiver.on(hook)[0].headers  # a channel without a secret does not sign
    assert w.admin.get(f"{w.rules}/{rule['id']}").json()["last_value"] == pytest.approx(0.2)


def test_failed_deliveries_are_retried_and_recorded(w: World) -> None:
    flaky, broken = f"/flaky/2/{secrets.token_hex(4)}", f"/status/500/{secrets.token_hex(4)}"
    rule = w.create(
        name="deliveries",
        metric="span_count",
        threshold=1,
        filters={"name": "delivery-check"},
        channels=[
            {"type": "webhook", "url": w.receiver.url + flaky},
            {"type": "webhook", "url": w.receiver.url + broken},
        ],
    )
    w.ingest("delivery-check", errors=0, ok=1)
    path = f"/api/projects/{w.server.project}/alerts/deliveries"

    def settled() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = w.admin.get(path, params={"rule_id": rule["id"]}).json()["items"]
        return items if len(items) == 2 and all(d["status"] != "pending" for d in items) else []

    by_channel = {d["channel_id"]: d for d in _wait(settled)}
    ok, failed = (by_channel[c["id"]] for c in rule["channels"])
    assert (ok["status"], ok["attempts"], ok["response_status"]) == ("delivered", 3, 200)
    assert (failed["status"], failed["attempts"], failed["response_status"]) == ("failed", 3, 500)
    assert failed["last_error"].startswith("HTTP 500")
    assert len(w.receiver.on(flaky)) == 3 and len(w.receiver.on(broken)) == 3
    only_failed = w.admin.get(path, params={"rule_id": rule["id"], "status": "failed"}).json()["items"]
    assert [d["id"] for d in only_failed] == [failed["id"]]


def test_a_test_notification_reaches_each_channel_now(w: World) -> None:
    hook, broken = f"/hook/{secrets.token_hex(4)}", f"/status/404/{secrets.token_hex(4)}"
    rule = w.create(
        name="testing",
        metric="p95_latency_ms",
        comparison="gt",
        threshold=1e9,
        channels=[
            {"type": "webhook", "url": w.receiver.url + hook, "secret": SECRET},
            {"type": "webhook", "url": w.receiver.url + broken},
        ],
    )
    r = w.admin.post(f"{w.rules}/{rule['id']}/test")
    assert r.status_code == 200, r.text
    results = {x["channel_id"]: x for x in r.json()["items"]}
    first, second = (results[c["id"]] for c in rule["channels"])
    assert first["status"] == "delivered" and (second["status"], second["response_status"]) == ("failed", 404)
    [received] = w.receiver.on(hook)
    _verify(received)
    assert received.json()["type"] == "alert.test" and received.json()["firing"] is None


def test_editing_keeps_stored_channel_secrets_and_is_audited(w: World) -> None:
    hook = f"/hook/{secrets.token_hex(4)}"
    rule = w.create(
        name="edit me",
        metric="tokens",
        comparison="gt",
        threshold=1e12,
        channels=[{"type": "webhook", "url": w.receiver.url + hook, "secret": SECRET}],
    )
    channel_id = rule["channels"][0]["id"]
    r = w.admin.patch(
        f"{w.rules}/{rule['id']}", json={"name": "edited", "threshold": 5e11, "channels": [{"id": channel_id}]}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["threshold"], r.json()["channels"][0]["signed"]) == ("edited", 5e11, True)
    assert w.admin.post(f"{w.rules}/{rule['id']}/test").json()["items"][0]["status"] == "delivered"
    _verify(w.receiver.on(hook)[0])  # still signed with the secret given at creation
    assert w.admin.delete(f"{w.rules}/{rule['id']}").status_code == 204
    assert w.admin.get(f"{w.rules}/{rule['id']}").status_code == 404
    audit = w.admin.get(f"/api/projects/{w.server.project}/audit").json()["items"]
    mine = [(e["action"], e["details"].get("name")) for e in audit if e["target_id"] == rule["id"]]
    assert mine == [
        ("alert_rule.deleted", "edited"),
        ("alert_rule.updated", "edited"),
        ("alert_rule.created", "edit me"),
    ]
    assert SECRET not in str(audit) and hook not in str(audit)


def test_a_rule_of_project_b_never_sees_project_a_data(w: World) -> None:
    b = w.admin.post("/api/projects", json={"name": "b", "org_id": w.org}).json()["project_id"]
    b_key = w.admin.post(f"/api/projects/{b}/keys", json={"scope": "admin"}).json()["api_key"]
    b_rules = f"/api/projects/{b}/alerts/rules"
    b_hook, a_hook = f"/hook/b-{secrets.token_hex(4)}", f"/hook/a-{secrets.token_hex(4)}"
    b_rule = w.create(
        path=b_rules,
        name="b sees spans",
        metric="span_count",
        threshold=1,
        channels=[{"type": "webhook", "url": w.receiver.url + b_hook}],
    )
    w.create(
        name="a sees spans",
        metric="span_count",
        threshold=1,
        filters={"name": "tenant-a"},
        channels=[{"type": "webhook", "url": w.receiver.url + a_hook}],
    )
    w.ingest("tenant-a", errors=4, ok=4)
    w.receiver.wait_for(a_hook, lambda r: r.json()["type"] == "alert.firing")
    after = time.time_ns() // 1000

    def evaluated_since() -> dict[str, Any] | None:
        got: dict[str, Any] = w.admin.get(f"{b_rules}/{b_rule['id']}").json()
        return got if got["last_evaluated_at"] > after else None

    evaluated = _wait(evaluated_since)
    assert (evaluated["state"], evaluated["last_value"]) == ("ok", 0)
    assert w.receiver.on(b_hook) == []
    # B's key cannot reach A's rules, and A's rule ids are not found through B's path
    b_client = w.web.new(headers={"Authorization": f"Bearer {b_key}"})
    assert b_client.get(w.rules).status_code == 403
    a_rule_id = w.admin.get(w.rules).json()["items"][0]["id"]
    assert b_client.get(f"{b_rules}/{a_rule_id}").status_code == 404
    assert b_client.delete(f"{b_rules}/{a_rule_id}").status_code == 404
    assert [r["id"] for r in b_client.get(b_rules).json()["items"]] == [b_rule["id"]]
    firings = b_client.get(f"/api/projects/{b}/alerts/firings").json()["items"]
    assert firings == []


def _settings(rules: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["id"], r["name"], r["metric"], r["threshold"], r["channels"]) for r in rules]


def test_viewers_and_members_read_rules_but_cannot_change_them(w: World) -> None:
    rule = w.create(name="guarded", metric="span_count", threshold=1e9)
    for role in ("viewer", "member"):
        client, _ = w.web.invite(w.admin, w.org, f"{role}-{secrets.token_hex(3)}@alerts.io", role)
        # the same rules (their last values move with every evaluation, so ids and settings are compared)
        assert _settings(w.admin.get(w.rules).json()["items"]) == _settings(client.get(w.rules).json()["items"])
        new = {"name": "x", "metric": "span_count", "comparison": "gt", "threshold": 1, "window_s": 60}
        for r in (
            client.post(w.rules, json=new),
            client.patch(f"{w.rules}/{rule['id']}", json={"threshold": 2}),
            client.delete(f"{w.rules}/{rule['id']}"),
            client.post(f"{w.rules}/{rule['id']}/test"),
        ):
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (role, r.text)
    read_key = w.admin.post(f"/api/projects/{w.server.project}/keys", json={"scope": "read"}).json()["api_key"]
    key_client = w.web.new(headers={"Authorization": f"Bearer {read_key}"})
    assert key_client.get(w.rules).status_code == 200
    assert key_client.post(w.rules, json={"name": "x"}).status_code == 403
    assert w.admin.get(f"{w.rules}/{rule['id']}").json()["threshold"] == 1e9


VALID = {"name": "x", "metric": "span_count", "comparison": "gt", "threshold": 1, "window_s": 60}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metric": "vibes"}, "metric must be"),
        ({"window_s": 0}, "window_s"),
        ({"interval_s": 0}, "interval_s"),
        ({"threshold": "1"}, "threshold"),
        ({"sql": "1"}, "unknown fields ['sql']"),
        ({"filters": {"user_id": "u"}}, "filters has unknown keys"),
        ({"channels": [{"type": "webhook", "url": "ftp://example.com/x"}]}, "channels[0].url must start with"),
        ({"channels": [{"type": "webhook", "url": "https://example.com/x", "secret": "short"}]}, "secret"),
        ({"channels": [{"type": "email", "to": ["a@example.com"]}]}, "[smtp]"),
        ({"channels": [{"id": "ch_not_mine"}]}, "names no channel of this rule"),
    ],
)
def test_bad_rules_get_a_400_naming_the_field(w: World, change: dict[str, Any], message: str) -> None:
    r = w.admin.post(w.rules, json=VALID | change)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_rule", r.text
    assert message in r.json()["error"]["message"]


def test_other_bad_requests_are_clear_4xx(w: World) -> None:
    assert w.admin.post(w.rules, content=b"name=x", headers={"Content-Type": "text/plain"}).status_code == 415
    assert w.admin.post(w.rules, content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    assert w.admin.patch(f"{w.rules}/alr_nope", json={"threshold": 1}).status_code == 404
    assert w.admin.post(f"{w.rules}/alr_nope/test").status_code == 404
    no_channels = w.create(name="quiet", metric="span_count", threshold=1e9)
    assert w.admin.post(f"{w.rules}/{no_channels['id']}/test").json()["error"]["code"] == "no_channels"
    firings = f"/api/projects/{w.server.project}/alerts/firings"
    assert w.admin.get(firings, params={"limit": "0"}).status_code == 400
    assert w.admin.get(firings, params={"cursor": "garbage"}).status_code == 400
    deliveries = f"/api/projects/{w.server.project}/alerts/deliveries"
    assert w.admin.get(deliveries, params={"status": "lost"}).status_code == 400


def test_a_firing_rule_notifies_again_after_its_renotify_interval(w: World) -> None:
    hook = f"/hook/{secrets.token_hex(4)}"
    w.create(
        name="nag",
        metric="error_count",
        threshold=1,
        renotify_s=1,
        filters={"name": "renotify-check"},
        channels=[{"type": "webhook", "url": w.receiver.url + hook}],
    )
    w.ingest("renotify-check", errors=1)
    first = w.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.firing").json()
    again = w.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.renotify").json()
    assert again["firing"]["id"] == first["firing"]["id"] and again["firing"]["state"] == "firing"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2:{port}/",
        "http://[::1]:{port}/",
        "http://[::ffff:7f00:2]:{port}/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://0.0.0.0:{port}/",
    ],
)
def test_opening_the_receivers_address_opens_no_other(w: World, url: str) -> None:
    port = w.receiver.server.server_address[1]
    body = VALID | {"channels": [{"type": "webhook", "url": url.format(port=port)}]}
    r = w.admin.post(w.rules, json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_rule", r.text
    assert "refused" in r.json()["error"]["message"] or "resolves" in r.json()["error"]["message"]


def test_a_redirect_to_the_metadata_address_is_not_followed_and_its_body_not_kept(w: World) -> None:
    hook = f"/redirect/{secrets.token_hex(4)}"
    rule = w.create(name="redirected", metric="span_count", comparison="gt", threshold=1e9,
                    channels=[{"type": "webhook", "url": w.receiver.url + hook}])  # fmt: skip
    [result] = w.admin.post(f"{w.rules}/{rule['id']}/test").json()["items"]
    assert (result["status"], result["response_status"]) == ("failed", 302)
    assert "redirects are not followed" in result["error"] and REDIRECT_BODY.decode() not in result["error"]
    deliveries = w.admin.get(f"/api/projects/{w.server.project}/alerts/deliveries", params={"rule_id": rule["id"]})
    assert REDIRECT_BODY.decode() not in deliveries.text and len(w.receiver.on(hook)) == 1

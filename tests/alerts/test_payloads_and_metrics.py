"""Notification bodies and signatures, and each metric's SQL run by DuckDB over a small `spans` table."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import duckdb
import orjson
import pytest
from lynex_channels import mail, slack, webhook

from lynex_box.alerts import delivery, metrics, payloads
from lynex_box.alerts.payloads import Notification

RULE: dict[str, Any] = {
    "id": "alr_1",
    "project_id": "p_1",
    "name": "checkout errors",
    "metric": "error_rate",
    "comparison": "gt",
    "threshold": 0.1,
    "window_s": 300,
    "filters": {"model": "gpt-4o"},
}
FIRING = {
    "id": "fir_1",
    "state": "firing",
    "value": 0.5,
    "started_at": 1_700_000_000_000_000,
    "resolved_at": None,
    "resolved_value": None,
}


def _note(event: str = "firing") -> Notification:
    return Notification(event, RULE, FIRING, 0.5, 1_700_000_001_000_000, "https://lynex.example/ui/alerts?rule=alr_1")


def _webhook(note: Notification, delivery_id: str, secret: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The webhook channel's body and headers (plugins/lynex-channels) for the notice the deliverer builds."""
    notice = delivery.notice(note, delivery_id)
    body = webhook.body(notice)
    return body, webhook.headers(notice, body, secret)


def test_the_webhook_body_and_its_signature() -> None:
    note = _note()
    body, headers = _webhook(note, "dlv_1", "topsecret-0123456")
    doc = orjson.loads(body)
    assert doc["type"] == "alert.firing" and doc["rule"]["id"] == "alr_1" and doc["value"] == 0.5
    assert doc["firing"]["started_at"] == "2023-11-14T22:13:20Z" and doc["sent_at"] == "2023-11-14T22:13:21Z"
    assert doc == payloads.document(note, "dlv_1")
    assert headers["X-Lynex-Timestamp"] == "1700000001"
    mac = hmac.new(b"topsecret-0123456", b"1700000001." + body, hashlib.sha256).hexdigest()
    assert headers["X-Lynex-Signature"] == f"sha256={mac}"
    assert "X-Lynex-Signature" not in _webhook(note, "dlv_1")[1]


def test_every_delivery_of_one_notification_carries_the_same_notification_id() -> None:
    """The idempotency id comes from the firing and the event, never from the delivery (which differs per channel,
    retry and cluster node)."""
    for event, expected in (("firing", "fir_1.firing"), ("resolved", "fir_1.resolved")):
        for delivery_id in ("dlv_1", "dlv_2"):
            body, headers = _webhook(_note(event), delivery_id)
            assert orjson.loads(body)["notification_id"] == expected
            assert headers["X-Lynex-Notification"] == expected
    renotify = Notification("renotify", RULE, {**FIRING, "last_notified_at": 17}, 0.5, 1, "")
    assert orjson.loads(_webhook(renotify, "dlv_3")[0])["notification_id"] == "fir_1.renotify.17"
    given = Notification("firing", RULE, FIRING, 0.5, 1, "", "fir_1.firing")
    assert orjson.loads(_webhook(given, "dlv_4")[0])["notification_id"] == "fir_1.firing"
    test = Notification("test", RULE, None, None, 1, "")
    assert orjson.loads(_webhook(test, "dlv_5")[0])["notification_id"] == "dlv_5"
    msg = mail.message(delivery.notice(_note(), "dlv_6"), "lx@example.com", ("a@example.com",))
    assert msg["X-Lynex-Notification"] == "fir_1.firing"


def test_slack_and_email_read_well() -> None:
    text = orjson.loads(slack.body(delivery.notice(_note("resolved"), "dlv_1")))["text"]
    assert text == (
        ":white_check_mark: [RESOLVED] checkout errors: error rate 0.5 (threshold > 0.1) over the last "
        "300s where model=gpt-4o (project p_1)"
    )
    notice = delivery.notice(_note(), "dlv_1")
    msg = mail.message(notice, "Lynex <lx@example.com>", ("a@example.com", "b@example.com"))
    assert msg["To"] == "a@example.com, b@example.com" and msg["Subject"].startswith("[FIRING] checkout errors")
    assert "Open: https://lynex.example/ui/alerts?rule=alr_1" in msg.get_content()


ROWS = [  # name, model, environment, status, duration_ms, total_cost, input, output, total tokens
    ("chat", "gpt-4o", "prod", "error", 100.0, 0.5, 10, 5, None),
    ("chat", "gpt-4o", "prod", "ok", 200.0, 0.25, 10, 5, 20),
    ("chat", "gpt-4o", "dev", "ok", 300.0, 1.0, None, None, None),
    ("embed", "small", "prod", "error", 400.0, None, 3, 0, 3),
]


@pytest.mark.parametrize(
    ("metric", "filters", "expected"),
    [
        ("error_rate", {}, 0.5),
        ("error_rate", {"model": "gpt-4o"}, 1 / 3),
        ("error_count", {"environment": "prod"}, 2),
        ("span_count", {"name": "chat", "environment": "prod"}, 2),
        ("total_cost", {}, 1.75),
        ("p95_latency_ms", {"name": "chat"}, 290.0),
        ("tokens", {}, 15 + 20 + 0 + 3),
        ("error_rate", {"name": "nothing"}, None),  # no spans: no data
        ("span_count", {"name": "nothing"}, 0),
    ],
)
def test_each_metric_over_spans(metric: str, filters: dict[str, str], expected: float | None) -> None:
    db = duckdb.connect()
    db.execute(
        "CREATE TABLE spans (name TEXT, model TEXT, environment TEXT, status TEXT, duration_ms DOUBLE, "
        "total_cost DOUBLE, input_tokens BIGINT, output_tokens BIGINT, total_tokens BIGINT)"
    )
    db.executemany("INSERT INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ROWS)
    sql, params = metrics.metric_sql(metric, filters)
    value = db.execute(sql, params).fetchone()[0]  # type: ignore[index]
    assert value == (pytest.approx(expected) if expected is not None else None)

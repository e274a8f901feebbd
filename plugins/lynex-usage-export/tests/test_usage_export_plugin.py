"""The usage-export plugin on its own, registered with the real plugin host from its entry point and handed a
context built as the server builds it (the real outbound address policy, the real object writer on a node without a
bucket): a bad table is refused naming the key; the CSV goes into the plugin's directory; a webhook on loopback is
refused by the default policy and given up without a request; a receiver that keeps failing is retried with backoff
then given up; deliveries left pending by a stop are sent after a restart."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from lynex_usage_export import ConfigError, create
from lynex_usage_export.formats import csv_bytes, metric_value, stripe_form

from lynex_box.alerts.fetch import blocking_post
from lynex_box.alerts.targets import TargetPolicy, parse_networks
from lynex_box.config import PluginsSettings
from lynex_box.lifecycle.plugin_objects import object_writer
from lynex_box.plugins.context import PluginContext
from lynex_box.plugins.host import PluginHost
from tests.alerts.receiver import Receiver

LOOPBACK = TargetPolicy(allowed=parse_networks("127.0.0.1/32"))
DAY_US = 86_400_000_000


def event(project: str, day: str = "2026-12-06", **usage: Any) -> dict[str, Any]:
    start = 1_796_515_200_000_000
    return {
        "project_id": project, "day": day, "start_us": start, "end_us": start + DAY_US, "traces": 2, "spans": 5,
        "llm_calls": 3, "errors": 1, "input_tokens": 100, "output_tokens": 20, "total_tokens": 120,
        "cost_usd": 0.255, **usage,
    }  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _host(tmp_path: Path, config: dict[str, Any], policy: TargetPolicy = LOOPBACK) -> PluginHost:
    host = PluginHost.start(PluginsSettings(enabled=("usage-export",), configs={"usage-export": config}))
    context = PluginContext(
        node_id="", data_dir=tmp_path, put_object=object_writer(None, tmp_path), http_post=blocking_post(policy)
    )
    host.started(context)
    return host


def _close(host: PluginHost) -> None:
    """Stop the host, then the plugin's outbox thread (the server's stop leaves it to the process's exit)."""
    plugin = host.pm.get_plugin("usage-export")
    host.close()
    if plugin is not None:
        plugin.close()


def _wait(check: Any, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if got := check():
            return got
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s")


def _files(tmp_path: Path, folder: str) -> list[Path]:
    return sorted((tmp_path / "plugins" / "usage-export" / folder).glob("*.json"))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "names no destination"),
        ({"webhook": {"url": "ftp://x/"}}, "webhook.url = 'ftp://x/' must be an http(s) URL"),
        ({"csv": {"prefix": "../x"}}, "prefix = '../x' must be a relative key"),
        ({"stripe": {"api_key": "sk", "meters": {"watts": "m"}}}, "unknown metric(s) ['watts']"),
        ({"stripe": {"meters": {"tokens": "m"}}}, "api_key must be the Stripe secret key"),
        ({"csv": {}, "attempts": 0}, "attempts = 0"),
        ({"csv": {}, "retries": 3}, "unknown key(s) ['retries']"),
    ],
)
def test_a_bad_table_is_refused_naming_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        create(config)
    assert message in str(info.value)


def test_formats_of_csv_and_stripe() -> None:
    assert metric_value(event("p"), "cost_cents") == 26 and metric_value(event("p"), "tokens") == 120
    form = stripe_form(event("p1"), "spans", "lynex_spans", "cus_1")
    assert form == {
        "event_name": "lynex_spans", "payload[stripe_customer_id]": "cus_1", "payload[value]": "5",
        "identifier": "lynex:p1:2026-12-06:spans", "timestamp": str(1_796_515_200 + 86_400 - 1),
    }  # fmt: skip
    rows = list(csv.reader(io.StringIO(csv_bytes([event("p2"), event("p1")]).decode())))
    assert rows[0][:3] == ["day", "project_id", "traces"] and [r[1] for r in rows[1:]] == ["p1", "p2"]


def test_the_csv_goes_to_the_plugins_directory_without_a_bucket(tmp_path: Path) -> None:
    host = _host(tmp_path, {"csv": {"prefix": "exports/usage"}})
    try:
        host.emit("usage_day_closed", event("p2"))
        host.emit("usage_day_closed", event("p1"))
        path = tmp_path / "plugins" / "usage-export" / "exports" / "usage" / "2026" / "12" / "06.csv"

        def two_rows() -> list[list[str]] | None:
            rows = list(csv.reader(io.StringIO(path.read_text()))) if path.exists() else []
            return rows if len(rows) == 3 else None

        rows = _wait(two_rows)
        assert [r[1] for r in rows[1:]] == ["p1", "p2"]
        assert _wait(lambda: not _files(tmp_path, "outbox"))
    finally:
        _close(host)


def test_a_loopback_webhook_is_refused_by_the_default_policy_and_given_up(tmp_path: Path, receiver: Receiver) -> None:
    host = _host(tmp_path, {"webhook": {"url": f"{receiver.url}/usage"}}, policy=TargetPolicy())
    try:
        host.emit("usage_day_closed", event("p1"))
        [failed] = _wait(lambda: _files(tmp_path, "failed"))
        assert "loopback" in orjson.loads(failed.read_bytes())["error"]
        assert receiver.on("/usage") == []
    finally:
        _close(host)


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(tmp_path: Path, receiver: Receiver) -> None:
    config = {"webhook": {"url": f"{receiver.url}/status/503"}, "attempts": 3, "backoff_s": 0.2}
    host = _host(tmp_path, config)
    try:
        host.emit("usage_day_closed", event("p1"))
        [failed] = _wait(lambda: _files(tmp_path, "failed"))
        doc = orjson.loads(failed.read_bytes())
        assert doc["attempts"] == 3 and "answered 503" in doc["error"]
        hits = receiver.on("/status/503")
        assert len(hits) == 3 and all(h.headers["x-lynex-event"] == "usage_day_closed" for h in hits)
    finally:
        _close(host)


def test_deliveries_pending_at_a_stop_are_sent_after_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    config = {"webhook": {"url": f"{receiver.url}/flaky/1000"}, "backoff_s": 30.0}
    first = _host(tmp_path, config)
    try:
        first.emit("usage_day_closed", event("p1"))
        _wait(lambda: receiver.on("/flaky/1000"))  # answered 500: the next try is 30 s away
    finally:
        _close(first)
    assert len(_files(tmp_path, "outbox")) == 1
    config["webhook"] = {"url": f"{receiver.url}/ok"}  # the receiver moved while the server was down
    second = _host(tmp_path, config)
    try:
        got = receiver.wait_for("/ok", lambda r: True)
        assert got.json()["event"]["project_id"] == "p1"
        assert _wait(lambda: not _files(tmp_path, "outbox"))
    finally:
        _close(second)

"""The platform alerts component with a fake clock and fake metric values, delivering through the real alerts
deliverer to a real HTTP receiver on 127.0.0.1: a firing names the node, the condition, the value, the threshold and a
hint, is signed, and resolves; a restart does not fire a still-firing condition again; the 5xx rate and the p95 come
from counter and histogram deltas as Prometheus computes them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from lynex_box.alerts.delivery import Deliverer
from lynex_box.alerts.platform.channels import admin_channels
from lynex_box.alerts.platform.conditions import CONDITIONS, History, quantile, snapshot
from lynex_box.alerts.platform.notices import Node
from lynex_box.alerts.platform.service import PlatformAlerts
from lynex_box.alerts.sealing import KEY_BYTES, SecretBox
from lynex_box.alerts.targets import TargetPolicy
from lynex_box.config import AlertsSettings, ConfigError, PlatformAlertsSettings
from lynex_box.meta.db import MetaDB
from tests.alerts.channel_types import CHANNELS
from tests.alerts.receiver import Received, Receiver

SECRET = "platform-signing-secret-0123"
ALERTS = AlertsSettings(allowed_target_networks="127.0.0.1/32", delivery_backoff_s=0.01, delivery_attempts=2)
NODE = Node("node-test", "host-a", cluster=True)


@dataclass
class Metrics:
    """The fake registry: gauges by name, and the request counter by status."""

    gauges: dict[str, float] = field(default_factory=dict)
    requests: dict[str, float] = field(default_factory=dict)

    def collect(self) -> Iterable[Metric]:
        out: list[Metric] = [GaugeMetricFamily(name, "", value=v) for name, v in self.gauges.items()]
        counter = CounterMetricFamily("lynex_http_requests", "", labels=["route", "method", "status"])
        for status, count in self.requests.items():
            counter.add_metric(["/v1/projects/{project_id}/events", "POST", status], count)
        return [*out, counter]


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[MetaDB]:
    meta = MetaDB(tmp_path / "meta.db")
    yield meta
    meta.close()


def settings(receiver: Receiver, tmp_path: Path, **kw: Any) -> PlatformAlertsSettings:
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    url = tmp_path / "url"
    url.write_text(receiver.url + "/admin\n")
    base: dict[str, Any] = {"enabled": True, "interval_s": 10, "for_s": 60, "resolve_after_s": 30, "renotify_s": 0}
    return PlatformAlertsSettings(**{**base, "webhook_url_file": str(url), "webhook_secret_file": str(secret), **kw})


def component(
    s: PlatformAlertsSettings, metrics: Metrics, clock: Clock, db: MetaDB, data_dir: Path
) -> tuple[PlatformAlerts, Deliverer]:
    deliverer = Deliverer(db, SecretBox(os.urandom(KEY_BYTES)), ALERTS, channels=CHANNELS)
    channels = admin_channels(s, CHANNELS, False, TargetPolicy.from_settings(ALERTS))
    return PlatformAlerts(s, metrics.collect, deliverer, channels, NODE, data_dir, "", clock), deliverer


async def arrived(receiver: Receiver, pred: Callable[[Received], bool], count: int = 1) -> list[Received]:
    for _ in range(500):
        found = [r for r in receiver.on("/admin") if pred(r)]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"not arrived: {[r.json()['type'] for r in receiver.on('/admin')]}")


def kind(event: str) -> Callable[[Received], bool]:
    return lambda r: bool(r.json()["type"] == f"platform_alert.{event}")


async def ticks(p: PlatformAlerts, clock: Clock, times: Iterable[float]) -> None:
    for t in times:
        clock.now = 1_000_000.0 + t
        await p.tick()


def test_fires_after_for_s_names_node_value_threshold_and_hint_then_resolves(
    receiver: Receiver, db: MetaDB, tmp_path: Path
) -> None:
    metrics, clock = Metrics({"lynex_wal_backlog_bytes": 300 * 1024 * 1024}), Clock()
    s = settings(receiver, tmp_path)

    async def run() -> None:
        p, deliverer = component(s, metrics, clock, db, tmp_path)
        try:
            await ticks(p, clock, [0, 10, 20, 30, 40, 50])
            assert p.status()["conditions"][2]["state"] == "pending"
            await asyncio.sleep(0.2)
            assert receiver.on("/admin") == []  # held 50 s of for_s = 60
            await ticks(p, clock, [60, 70])
            [fired] = await arrived(receiver, kind("firing"))
            doc = fired.json()
            plat = doc["platform"]
            assert (plat["node_id"], plat["host"], plat["condition"]) == ("node-test", "host-a", "wal_backlog")
            assert plat["value"] == 300 * 1024 * 1024 and plat["threshold"] == 256 * 1024 * 1024
            assert "this node watches only itself" in plat["scope"] and "flushes" in plat["hint"]
            assert "node-test" in doc["summary"] and "300.0 MiB" in doc["summary"] and "256.0 MiB" in doc["summary"]
            mac = hmac.new(SECRET.encode(), f"{fired.headers['x-lynex-timestamp']}.".encode() + fired.body,
                           hashlib.sha256).hexdigest()  # fmt: skip
            assert fired.headers["x-lynex-signature"] == f"sha256={mac}"
            metrics.gauges["lynex_wal_backlog_bytes"] = 0
            await ticks(p, clock, [80, 100])
            await asyncio.sleep(0.2)
            assert not [r for r in receiver.on("/admin") if kind("resolved")(r)]  # clear 20 s of 30
            await ticks(p, clock, [110])
            [resolved] = await arrived(receiver, kind("resolved"))
            assert resolved.json()["firing"]["resolved_value"] == 0
            assert len(receiver.on("/admin")) == 2  # one firing, one resolution: nothing else
            [*_, last] = p.status()["deliveries"]
            assert last["status"] == "delivered" and last["event"] == "firing"
        finally:
            await p.close()
            await deliverer.close()

    asyncio.run(run())


def test_a_restart_does_not_fire_a_still_firing_condition_again(receiver: Receiver, db: MetaDB, tmp_path: Path) -> None:
    metrics, clock = Metrics({"lynex_read_only": 1}), Clock()
    s = settings(receiver, tmp_path)

    async def run() -> None:
        first, deliverer = component(s, metrics, clock, db, tmp_path)
        await ticks(first, clock, [0, 60])
        await arrived(receiver, kind("firing"))
        await first.close()
        await deliverer.close()
        again, deliverer = component(s, metrics, clock, db, tmp_path)  # the same data dir: its state file
        try:
            again.load()
            [read_only] = [c for c in again.status()["conditions"] if c["condition"] == "read_only"]
            assert read_only["state"] == "firing" and read_only["last_notified_at"] is not None
            await ticks(again, clock, [70, 80, 200])
            await asyncio.sleep(0.3)
            assert len(receiver.on("/admin")) == 1  # still holding: no second firing
            metrics.gauges["lynex_read_only"] = 0
            await ticks(again, clock, [210, 240])
            await arrived(receiver, kind("resolved"))
        finally:
            await again.close()
            await deliverer.close()

    asyncio.run(run())


def test_renotifies_while_firing(receiver: Receiver, db: MetaDB, tmp_path: Path) -> None:
    metrics, clock = Metrics({"lynex_backpressure": 1}), Clock()
    s = settings(receiver, tmp_path, renotify_s=100)

    async def run() -> None:
        p, deliverer = component(s, metrics, clock, db, tmp_path)
        try:
            await ticks(p, clock, range(0, 280, 10))
            found = await arrived(receiver, lambda r: True, count=3)
            assert sorted(r.json()["type"] for r in found) == [
                "platform_alert.firing", "platform_alert.renotify", "platform_alert.renotify",
            ]  # fmt: skip
        finally:
            await p.close()
            await deliverer.close()

    asyncio.run(run())


def _condition(name: str) -> Any:
    return next(c for c in CONDITIONS if c.name == name)


def test_the_5xx_rate_is_a_ratio_of_counter_deltas_over_the_window() -> None:
    s = PlatformAlertsSettings(error_window_s=60, error_rate=0.05, error_min_rps=1)
    history, metrics = History(60), Metrics(requests={"202": 1000, "503": 500})  # before: not counted
    read = _condition("http_5xx_rate").read
    first = snapshot(metrics.collect(), 0)
    history.add(first)
    assert read(first, history, s).holds is None  # one snapshot: not known yet
    metrics.requests = {"202": 1090, "503": 510}  # 100 requests in 60 s, 10 answered 5xx
    later = snapshot(metrics.collect(), 60)
    history.add(later)
    reading = read(later, history, s)
    assert reading.holds and reading.value == pytest.approx(0.1)
    metrics.requests = {"202": 1100, "503": 520}  # 30 more, 10 of them 5xx, but 0.5 requests/s: too quiet
    quiet = snapshot(metrics.collect(), 120)
    history.add(quiet)
    assert read(quiet, history, s).holds is False


def test_p95_interpolates_like_histogram_quantile() -> None:
    assert quantile(0.95, {0.1: 50, 1.0: 90, 2.5: 100, float("inf"): 100}) == pytest.approx(1.75)
    assert quantile(0.95, {1.0: 0, float("inf"): 10}) == 1.0  # in the +Inf bucket: the highest finite bound
    assert quantile(0.95, {1.0: 0, float("inf"): 0}) is None


def test_a_channel_that_cannot_be_used_stops_the_start_with_its_name(tmp_path: Path) -> None:
    policy = TargetPolicy.from_settings(ALERTS)
    bad = PlatformAlertsSettings(enabled=True, channels={"oncall": {"type": "pagerduty"}})
    with pytest.raises(ConfigError, match=r"\[platform_alerts.channels.oncall\]: routing_key"):
        admin_channels(bad, CHANNELS, False, policy)
    missing = PlatformAlertsSettings(enabled=True, webhook_url_file=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"\[platform_alerts\] webhook_url_file = .* cannot be read"):
        admin_channels(missing, CHANNELS, False, policy)
    refused = PlatformAlertsSettings(enabled=True, webhook_url="http://10.0.0.1/hook")
    with pytest.raises(ConfigError, match="refused"):
        admin_channels(refused, CHANNELS, False, policy)
    key = tmp_path / "key"
    key.write_text("r" * 32)
    table = {"type": "pagerduty", "routing_key_file": str(key)}
    [channel] = admin_channels(PlatformAlertsSettings(channels={"oncall": table}), CHANNELS, False, policy)
    assert channel.config["routing_key"] == "r" * 32 and "routing_key" not in channel.public()


def test_a_wal_backlog_holds_when_too_large_or_too_old() -> None:
    s = PlatformAlertsSettings(wal_backlog_bytes=1000, wal_backlog_age_s=60)
    read, history = _condition("wal_backlog").read, History(60)
    for size, age, holds in ((10, 5, False), (2000, 5, True), (10, 61, True)):
        metrics = Metrics({"lynex_wal_backlog_bytes": size, "lynex_wal_backlog_age_seconds": age})
        assert read(snapshot(metrics.collect(), 0), history, s).holds is holds, (size, age)

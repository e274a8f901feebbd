"""The platform alerts component app.py builds: every `[platform_alerts] interval_s` it collects the app's metrics
registry (the values GET /metrics would show, read by the same collectors), moves each condition's `Track` and hands
a notification to the alerts deliverer (`Deliverer.send`: the channel types, retries, the outbound address policy,
signing), one task per channel, never waiting for them.

State file: `platform_alerts.json` in the data dir holds each firing condition (its start, its last notification)
and the last delivery records, written atomically in a thread after each change. After a restart a condition that
was firing is firing still: if it still holds nothing is sent again (a renotification comes when `renotify_s` after
the last one is due); if it cleared while the node was down, `resolved` is sent once it has been clear for
`resolve_after_s`. A pending condition starts over (the history of rates is in memory). Deliveries a stopped process
left pending are recorded as failed. In cluster mode each node has its own file, state and notifications.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
from prometheus_client.core import Metric

from lynex_box.alerts.delivery import Deliverer
from lynex_box.alerts.platform.channels import admin_channels
from lynex_box.alerts.platform.conditions import CONDITIONS, Condition, History, Reading, snapshot
from lynex_box.alerts.platform.notices import Node, iso, notice
from lynex_box.alerts.platform.tracker import Timing, Track
from lynex_box.alerts.rules import Channel
from lynex_box.alerts.store import new_id
from lynex_box.alerts.targets import TargetPolicy
from lynex_box.config import PlatformAlertsSettings, Settings
from lynex_box.fsutil import atomic_write
from lynex_box.jobs import Job
from lynex_box.plugins.channels import ChannelType

log = logging.getLogger("lynex.alerts.platform")
STATE_FILE: Final = "platform_alerts.json"
JOB_ID: Final = "platform_alerts"
KEEP_DELIVERIES: Final = 50
INTERRUPTED: Final = "the server stopped before this delivery completed"


@dataclass(slots=True)
class Deliveries:
    """The last delivery records (newest last), the platform alerts' `Ledger` for `Deliverer.send`."""

    save: Callable[[], None]
    items: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEEP_DELIVERIES))

    def ledger(self, condition: str) -> _Ledger:
        return _Ledger(self, condition)


class _Ledger:
    def __init__(self, deliveries: Deliveries, condition: str) -> None:
        self._deliveries, self._condition = deliveries, condition
        self._record: dict[str, Any] = {}

    async def opened(self, channel: Channel, event: str) -> str:
        self._record = {
            "id": new_id("pdl"), "condition": self._condition, "channel": channel.id, "channel_type": channel.type,
            "event": event, "status": "pending", "attempts": 0, "response_status": None, "last_error": None,
            "created_at": time.time(), "updated_at": time.time(),
        }  # fmt: skip
        self._deliveries.items.append(self._record)
        return str(self._record["id"])

    async def attempted(
        self, delivery_id: str, status: str, attempts: int, response_status: int | None, error: str | None
    ) -> None:
        self._record.update(status=status, attempts=attempts, response_status=response_status,
                            last_error=error[:500] if error else None, updated_at=time.time())  # fmt: skip
        if status != "pending":
            self._deliveries.save()


class PlatformAlerts:
    """Start with `start()` (reads the state file); `jobs()` is its tick; `status()` what GET /v1/platform-alerts
    shows; `close()` cancels deliveries in flight (recorded as failed on the next start)."""

    def __init__(
        self,
        settings: PlatformAlertsSettings,
        collect: Callable[[], Iterable[Metric]],
        deliverer: Deliverer,
        channels: tuple[Channel, ...],
        node: Node,
        data_dir: Path,
        link: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`collect` is the metrics registry's (`PlatformMetrics.registry.collect`); `clock` wall-clock seconds."""
        self.settings = settings
        self.collect = collect
        self.deliverer = deliverer
        self.channels = channels
        self.node = node
        self.path = data_dir / STATE_FILE
        self.link = link
        self.clock = clock
        self.conditions: tuple[Condition, ...] = tuple(c for c in CONDITIONS if c.name not in settings.disable)
        s = settings
        self.timing = Timing(s.for_s, s.resolve_after_s, s.renotify_s)
        self.history = History(max(s.error_window_s, s.latency_window_s, s.job_window_s))
        self.tracks = {c.name: Track(c.name) for c in self.conditions}
        self.readings: dict[str, Reading] = {}
        self.evaluated_at: float | None = None
        self.deliveries = Deliveries(self._save_soon)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._saving = asyncio.Lock()

    @classmethod
    async def start(
        cls,
        settings: Settings,
        collect: Callable[[], Iterable[Metric]],
        deliverer: Deliverer,
        types: Mapping[str, ChannelType],
        email: bool,
        node: Node,
    ) -> PlatformAlerts:
        """Open the admin channels (a `ConfigError` for one that cannot be used stops the start) and restore the
        state file. Off (`enabled = false`): nothing is read and no job runs; the API shows it off."""
        s = settings.platform_alerts
        channels: tuple[Channel, ...] = ()
        if s.enabled:
            policy = TargetPolicy.from_settings(settings.alerts)
            channels = await asyncio.to_thread(admin_channels, s, types, email, policy)
        base = settings.server.public_url.rstrip("/")
        link = f"{base}/v1/platform-alerts" if base else ""
        made = cls(s, collect, deliverer, channels, node, settings.data_dir, link)
        if s.enabled:
            await asyncio.to_thread(made.load)
            if not channels:
                log.warning("platform alerts are on without a channel: their states show in GET /v1/platform-alerts")
        return made
        policy = TargetPolicy.from_settings(settings.alerts)
        made.channels = await asyncio.to_thread(admin_channels, s, types, email, policy)
        await asyncio.to_thread(made.load)
        if not made.channels:
            log.warning("platform alerts are on without a channel: their states show in GET /v1/platform-alerts only")
        return made

    # ------------------------------------------------------------------ state file
    def load(self) -> None:
        """Restore the firing conditions and the delivery records (blocking)."""
        try:
            doc = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("platform alerts state unreadable path=%s error=%s; starting afresh", self.path, exc)
            return
        for name, saved in (doc.get("tracks") or {}).items():
            track = self.tracks.get(name)
            if track is None or saved.get("state") != "firing":
                continue  # a disabled condition, or one that was not firing: observed afresh
            track.state, track.since = "firing", saved.get("since")
            track.last_notified, track.fired_value = saved.get("last_notified"), saved.get("fired_value")
        for record in doc.get("deliveries") or []:
            if record.get("status") == "pending":
                record.update(status="failed", last_error=INTERRUPTED)
            self.deliveries.items.append(record)

    def _document(self) -> bytes:
        tracks = {
            name: {"state": t.state, "since": t.since, "last_notified": t.last_notified, "fired_value": t.fired_value}
            for name, t in self.tracks.items()
        }
        return orjson.dumps({"node_id": self.node.node_id, "tracks": tracks, "deliveries": list(self.deliveries.items)})

    def _write(self, body: bytes) -> None:
        with atomic_write(self.path) as fh:
            fh.write(body)

    async def save(self) -> None:
        async with self._saving:  # one writer at a time; each writes the state as it is when it runs
            await asyncio.to_thread(self._write, self._document())

    def _save_soon(self) -> None:
        self._spawn(self.save(), "platform-alerts-save")

    def _spawn(self, work: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ evaluation
    def jobs(self) -> list[Job]:
        return [Job(JOB_ID, self.tick, self.settings.interval_s)] if self.settings.enabled else []

    async def tick(self) -> None:
        """One evaluation of every condition; the registry is collected in a thread, as a scrape collects it (the
        collectors read /proc, the disk and the engine's state)."""
        now = self.clock()
        snap = snapshot(await asyncio.to_thread(lambda: list(self.collect())), now)
        self.history.add(snap)
        self.evaluated_at = now
        changed = False
        for cond in self.conditions:
            reading = cond.read(snap, self.history, self.settings)
            self.readings[cond.name] = reading
            track = self.tracks[cond.name]
            before = track.state
            event = track.step(reading.holds, reading.value, now, self.timing)
            changed = changed or (track.state != before and "firing" in (before, track.state))
            if event is not None:
                log.warning("platform alert %s node=%s condition=%s value=%s threshold=%s",
                            event, self.node.node_id, cond.name, reading.value, reading.threshold)  # fmt: skip
                self.notify(event, cond, reading, track, now)
                changed = True
        if changed:
            await self.save()

    def notify(self, event: str, cond: Condition, reading: Reading, track: Track, now: float) -> None:
        """Deliver `event` to every admin channel in the background (the deliverer's attempts and backoff)."""
        for_s, attempts = self.timing.for_s, self.deliverer.settings.delivery_attempts
        snapshot_track = Track(track.condition, track.state, track.since, None, track.last_notified, track.fired_value)

        def build(delivery_id: str) -> Any:
            return notice(event, cond, reading, snapshot_track, self.node, for_s, self.link, delivery_id, now)

        for channel in self.channels:
            ledger = self.deliveries.ledger(cond.name)
            subject = f"platform={self.node.node_id}.{cond.name}"
            self._spawn(self.deliverer.send(channel, event, build, ledger, attempts, None, subject), "platform-alert")

    # ------------------------------------------------------------------ what the API shows
    def status(self) -> dict[str, Any]:
        s = self.settings
        conditions = []
        for cond in self.conditions:
            track, reading = self.tracks[cond.name], self.readings.get(cond.name)
            conditions.append({
                "condition": cond.name, "title": cond.title, "state": track.state,
                "holds": reading.holds if reading else None, "value": reading.value if reading else None,
                "threshold": reading.threshold if reading else None, "detail": reading.shown if reading else "",
                "since": iso(track.since) if track.state != "ok" else None,
                "last_notified_at": iso(track.last_notified), "resolved_at": iso(track.resolved_at),
                "hint": cond.hint,
            })  # fmt: skip
        deliveries = [
            {**d, "created_at": iso(d.get("created_at")), "updated_at": iso(d.get("updated_at"))}
            for d in reversed(self.deliveries.items)
        ]
        return {
            "enabled": s.enabled, "node_id": self.node.node_id, "host": self.node.host, "cluster": self.node.cluster,
            "scope": self.node.scope, "interval_s": s.interval_s, "for_s": s.for_s,
            "resolve_after_s": s.resolve_after_s, "renotify_s": s.renotify_s,
            "evaluated_at": iso(self.evaluated_at), "disabled": list(s.disable),
            "channels": [c.public() for c in self.channels], "conditions": conditions, "deliveries": deliveries,
        }  # fmt: skip

    async def close(self) -> None:
        """Cancel deliveries in flight, record them as failed and write the state a last time."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        cut = [d for d in self.deliveries.items if d["status"] == "pending"]
        for record in cut:
            record.update(status="failed", last_error=INTERRUPTED)
        if self.settings.enabled and (cut or self.evaluated_at is not None):
            await asyncio.to_thread(self._write, self._document())

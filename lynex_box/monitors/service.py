"""The monitors component app.py builds: its scheduled job finds due monitors and starts their runs.

`jobs()` declares one job, `monitors`, every `[monitors] tick_s`; in cluster mode app.py's guard runs it only on the
node holding the `alerts` lease (cluster/node.py `SINGLETON_JOBS`), so each monitor runs once per period in the
whole cluster. A turn reads the monitors that may be due (in a thread), starts a task for each due one that is not
already running and returns: a slow target never delays another monitor's turn. `close` cancels the runs in flight.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lynex_box.alerts.rules import RuleLimits
from lynex_box.config import MonitorsSettings
from lynex_box.jobs import Job
from lynex_box.meta.db import MetaDB
from lynex_box.monitors import store
from lynex_box.monitors.runner import Runner
from lynex_box.monitors.spec import MonitorLimits
from lynex_box.monitors.store import StoredMonitor

log = logging.getLogger("lynex.monitors")


class MonitorService:
    def __init__(
        self, settings: MonitorsSettings, db: MetaDB, runner: Runner, limits: MonitorLimits, rule_limits: RuleLimits
    ) -> None:
        self.settings = settings
        self.db = db
        self.runner = runner
        self.limits = limits
        self.rule_limits = rule_limits
        self._running: dict[str, asyncio.Task[Any]] = {}

    def jobs(self) -> list[Job]:
        return [Job("monitors", self.tick, self.settings.tick_s)] if self.settings.enabled else []

    async def tick(self) -> None:
        at = store.now_us()
        monitors = await asyncio.to_thread(lambda: store.due_monitors(self.db.reader(), at))
        for monitor in monitors:
            if monitor.id not in self._running and monitor.due(at):
                self._start(monitor)

    def _start(self, monitor: StoredMonitor) -> None:
        task = asyncio.create_task(self._run(monitor), name=f"monitor-{monitor.id}")
        self._running[monitor.id] = task
        task.add_done_callback(lambda _: self._running.pop(monitor.id, None))

    async def _run(self, monitor: StoredMonitor) -> None:
        try:
            await self.runner.run(monitor)
        except Exception:
            log.exception("monitor run failed monitor=%s project=%s", monitor.id, monitor.project_id)

    async def run_now(self, monitor: StoredMonitor) -> dict[str, Any]:
        """A run asked for through the API (any node): the same run, answered when it is done."""
        return await self.runner.run(monitor, manual=True)

    async def close(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

"""The `usage_day_closed` topic: once a UTC day has ended plus a grace delay, one event per project that had
data that day, with its usage computed by the query engine (DuckDB, on the query workers, never on the loop).

Which days are due is pure (`days_due`): every day after the last one closed whose end plus
`[plugins] usage_close_delay_s` has passed, at most `usage_catchup_days` of them (the newest), oldest first; with
no day closed yet, only the newest due day. The last day closed is remembered durably (`ClosedDays`: a meta.db
setting on a single node, an object in the bucket in cluster mode, `cluster/usagemark.py`), so a restart neither
emits a day again nor skips one. Each day is marked right after its events are handed to the plugin host: a crash
between the two can emit that day once more (the Stripe identifier of the usage exporter makes that harmless),
never lose it. In cluster mode app.py runs the job under the `retention` lease (`cluster/node.py`
`SINGLETON_JOBS`), so one node emits, over every node's published segments. Nothing runs while no plugin
subscribes to the topic.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from lynex_box.config import PluginsSettings
from lynex_box.jobs import Job
from lynex_box.meta.db import MetaDB
from lynex_box.plugins.events import Events
from lynex_box.query.engine import QueryEngine, SpanScope

log = logging.getLogger("lynex.usage_close")

TOPIC: Final = "usage_day_closed"
JOB_ID: Final = "usage_close"
DAY_US: Final = 86_400_000_000
SETTING: Final = "usage_closed_day"  # instance_settings key of a single node's last closed day

DAY_SQL: Final = """
SELECT count(*) AS events,
       count(*) FILTER (WHERE kind IS DISTINCT FROM 'event') AS spans,
       count(DISTINCT trace_id) AS traces,
       count(*) FILTER (WHERE kind = 'llm') AS llm_calls,
       count(*) FILTER (WHERE status = 'error') AS errors,
       coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(total_tokens), 0) AS total_tokens,
       coalesce(sum(total_cost), 0.0) AS cost_usd
FROM spans
"""

Compute = Callable[[str, int, int], Awaitable[dict[str, Any] | None]]


class ClosedDays(Protocol):
    """Where the last closed day is remembered. Blocking calls: run them in threads."""

    def last(self) -> str | None:
        """The last day closed (`YYYY-MM-DD`), or None when none was."""
        ...

    def may_emit(self) -> bool:
        """Whether this process may emit now (cluster mode: it still holds the lease)."""
        ...

    def mark(self, day: str) -> bool:
        """Remember `day` as closed; False when another process marked it first (then stop)."""
        ...


class MetaClosedDays:
    """A single node's mark: `instance_settings.usage_closed_day` in meta.db."""

    def __init__(self, meta: MetaDB) -> None:
        self._meta = meta

    def last(self) -> str | None:
        rows = self._meta.read("SELECT value FROM instance_settings WHERE key = ?", (SETTING,))
        return str(rows[0][0]) if rows else None

    def may_emit(self) -> bool:
        return True

    def mark(self, day: str) -> bool:
        self._meta.write(
            lambda conn: conn.execute(
                "INSERT INTO instance_settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (SETTING, day),
            )
        )
        return True


def day_start_us(day: str) -> int:
    """Epoch µs of `day`'s midnight UTC."""
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp()) * 1_000_000


def iso_day(us: int) -> str:
    return dt.datetime.fromtimestamp(us // 1_000_000, dt.UTC).date().isoformat()


def days_due(now_us: int, delay_s: float, last: str | None, max_days: int) -> list[str]:
    """The days to close now, oldest first: after `last`, ended at least `delay_s` ago, at most `max_days` (the
    newest; older missed days are skipped); with `last` None only the newest day due."""
    newest_end = now_us - int(delay_s * 1_000_000)  # a day is due once its end is at or before this
    newest = (newest_end - newest_end % DAY_US) - DAY_US  # the start of the newest day that ended by then
    if last is None:
        return [iso_day(newest)]
    first = max(day_start_us(last) + DAY_US, newest - (max_days - 1) * DAY_US)
    return [iso_day(start) for start in range(first, newest + 1, DAY_US)]


def query_compute(query: QueryEngine) -> Compute:
    """The usage of one project over [start, end) from the query engine, deduplicated as every query; None when
    the project has no span that day."""

    async def compute(project_id: str, start_us: int, end_us: int) -> dict[str, Any] | None:
        table = await query.query_async(SpanScope(project_id, start_us, end_us), DAY_SQL, dedupe=True)
        [row] = table.to_pylist()
        if not row["events"]:
            return None
        ints = ("spans", "traces", "llm_calls", "errors", "input_tokens", "output_tokens", "total_tokens")
        return {**{k: int(row[k] or 0) for k in ints}, "cost_usd": float(row["cost_usd"] or 0.0)}

    return compute


def meta_projects(meta: MetaDB) -> Callable[[], list[str]]:
    return lambda: [str(r[0]) for r in meta.read("SELECT id FROM projects ORDER BY id")]


def _now_us() -> int:
    return time.time_ns() // 1000


class UsageCloser:
    """Emits `usage_day_closed` for each due day (a component with one job, `usage_close`)."""

    def __init__(
        self,
        settings: PluginsSettings,
        events: Events,
        projects: Callable[[], list[str]],
        compute: Compute,
        marks: ClosedDays,
        clock: Callable[[], int] = _now_us,
    ) -> None:
        self.settings = settings
        self._events = events
        self._projects = projects
        self._compute = compute
        self._marks = marks
        self._clock = clock

    def jobs(self) -> list[Job]:
        """`usage_close` every `usage_close_check_s`; none when no plugin subscribes to the topic."""
        if not self._events.wants(TOPIC):
            return []
        return [Job(JOB_ID, self.close_due, self.settings.usage_close_check_s)]

    async def close_due(self) -> list[str]:
        """Close every due day in order; the days closed."""
        if not self._events.wants(TOPIC):  # e.g. the only subscriber failed its start
            return []
        s = self.settings
        last = await asyncio.to_thread(self._marks.last)
        closed: list[str] = []
        for day in days_due(self._clock(), s.usage_close_delay_s, last, s.usage_catchup_days):
            if not await asyncio.to_thread(self._marks.may_emit):
                break
            events = await self._day(day)
            for event in events:
                self._events.emit(TOPIC, event)
            if not await asyncio.to_thread(self._marks.mark, day):
                log.warning("usage day marked by another node day=%s; this node stops closing days", day)
                break
            log.info("usage day closed day=%s projects=%d", day, len(events))
            closed.append(day)
        return closed

    async def _day(self, day: str) -> list[dict[str, Any]]:
        start = day_start_us(day)
        end = start + DAY_US
        out = []
        for project_id in await asyncio.to_thread(self._projects):
            usage = await self._compute(project_id, start, end)
            if usage is not None:
                out.append({"project_id": project_id, "day": day, "start_us": start, "end_us": end, **usage})
        return out

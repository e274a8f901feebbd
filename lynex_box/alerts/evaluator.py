"""Evaluates due alert rules: one query per rule through the query engine, in threads, never on the loop.

The app's scheduler calls `tick()` every `[alerts] tick_s`; a tick picks the enabled rules whose interval has
passed, measures each over its window `[now - window_s, now)` with a `SpanScope` of the rule's own project
(segments plus the not-yet-flushed head, so a burst of errors counts at once), records the value and moves
the rule's state in one meta.db transaction, then hands any transition to the deliverer and returns without
waiting for deliveries. A failing query is recorded on the rule (`last_error`) and changes no state. In cluster
mode (`shared`) the state lives in the bucket instead and transitions go through `shared.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from lynex_box.alerts import history, metrics, store
from lynex_box.alerts.delivery import Deliverer
from lynex_box.alerts.payloads import Notification
from lynex_box.alerts.shared import SharedAlerts
from lynex_box.alerts.store import StoredRule
from lynex_box.config import AlertsSettings
from lynex_box.meta.db import MetaDB
from lynex_box.query.engine import QueryEngine, SpanScope

log = logging.getLogger("lynex.alerts")
PRUNE_EVERY_S = 3600.0


class Evaluator:
    def __init__(
        self,
        db: MetaDB,
        query: QueryEngine,
        deliverer: Deliverer,
        settings: AlertsSettings,
        link: Callable[[str], str],
        shared: SharedAlerts | None = None,
    ) -> None:
        """`shared` (cluster mode) keeps the rules' state in the bucket, fenced by the `alerts` lease."""
        self.db = db
        self.shared = shared
        self.query = query
        self.deliverer = deliverer
        self.settings = settings
        self.link = link
        self._slots = asyncio.Semaphore(settings.max_concurrent_evaluations)
        self._pruned_at = 0.0
        self.evaluations = 0  # rules evaluated since start, and those whose query failed (GET /metrics)
        self.evaluation_failures = 0

    def measure(self, rule: StoredRule, end_us: int) -> float | None:
        """The rule's metric over its window ending at `end_us` (blocking: DuckDB)."""
        sql, params = metrics.metric_sql(rule.spec.metric, rule.spec.filters)
        scope = SpanScope(rule.project_id, end_us - rule.spec.window_s * 1_000_000, end_us)
        table = self.query.run(scope, sql, params)
        value = table.column("value")[0].as_py() if table.num_rows else None
        return None if value is None else float(value)

    async def tick(self) -> None:
        started = store.now_us()
        rules = await asyncio.to_thread(lambda: store.due_rules(self.db.reader(), started))
        if rules:
            await asyncio.gather(*(self._evaluate(rule, started) for rule in rules))
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            cutoff = started - self.settings.history_days * 86_400 * 1_000_000
            await asyncio.to_thread(self.db.write, lambda c: history.prune(c, cutoff))

    async def evaluate_now(self, project_id: str, rule_ids: tuple[str, ...]) -> None:
        """Evaluate these enabled rules of the project at once, whatever their interval: a synthetic monitor's run
        just stored spans they watch (lynex_box/monitors/runner.py)."""
        started = store.now_us()

        def read() -> list[StoredRule]:
            found = (store.get_rule(self.db.reader(), project_id, rule_id) for rule_id in rule_ids)
            return [rule for rule in found if rule is not None and rule.spec.enabled]

        rules = await asyncio.to_thread(read)
        if rules:
            await asyncio.gather(*(self._evaluate(rule, started) for rule in rules))

    async def _evaluate(self, rule: StoredRule, started: int) -> None:
        value: float | None = None
        error: str | None = None
        async with self._slots:
            self.evaluations += 1
            try:
                value = await self.query.call_async(self.measure, rule, started)  # on the query workers
            except Exception as exc:  # a rule's failure is recorded on it; the other rules go on
                self.evaluation_failures += 1
                error = f"{type(exc).__name__}: {exc}"
                log.warning("alert evaluation failed rule=%s error=%s", rule.id, error)
        if self.shared is not None and error is None:
            await self.shared.evaluate(rule, started, value)
            return
        transition = await asyncio.to_thread(
            self.db.write, lambda c: store.apply_evaluation(c, rule.id, started, value, error)
        )
        if transition is None:
            return
        log.info("alert %s rule=%s project=%s value=%s", transition.event, rule.id, rule.project_id, value)
        note = Notification(
            transition.event,
            transition.rule.as_dict(),
            transition.firing,
            transition.value,
            store.now_us(),
            self.link(rule.id),
        )
        self.deliverer.dispatch(transition.rule, note)

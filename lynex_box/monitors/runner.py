"""One monitor run end to end: the request, the assertions, the trace into the WAL, the run's record, the alerts.

The request runs on the loop (httpx, async); the assertions (regular expressions with a timeout) and every meta.db
access run in threads. The trace goes through the same WAL append as the native events API (so it is durable,
priced, and shown in every view), validated by the same per-event check first. When the monitor has linked alert
rules, the runner waits (briefly) for the pipeline to put the run's spans in the head, then has those rules
evaluated at once: a run that fails notifies within the period it ran in, not one rule interval later.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from lynex_box.alerts.sealing import SealError, SecretBox
from lynex_box.alerts.targets import Resolver, TargetPolicy, system_resolve
from lynex_box.config import IngestSettings, MonitorsSettings
from lynex_box.meta.db import MetaDB
from lynex_box.monitors import jsonpath, request, store, trace
from lynex_box.monitors.assertions import Answer, Outcome, check
from lynex_box.monitors.store import StoredMonitor
from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.native.validate import validate_event
from lynex_box.wal.records import RecordHeader, RecordType

log = logging.getLogger("lynex.monitors")

Append = Callable[[RecordType, RecordHeader, bytes], Awaitable[int]]
WaitProcessed = Callable[[int, float], Awaitable[bool]]
EvaluateRules = Callable[[str, tuple[str, ...]], Awaitable[None]]
Refusal = Callable[[str], str | None]  # why a project's trace may not be written now (as ingest is refused), or None
VISIBLE_WAIT_S = 5.0  # how long a run waits for its spans to be queryable before its rules are evaluated


@dataclass(frozen=True, slots=True)
class Judged:
    ok: bool
    outcomes: list[Outcome]
    body: str
    reply: tuple[str | None, dict[str, int], str | None] | None


def judge(monitor: StoredMonitor, ex: request.Exchange) -> Judged:
    """The assertions' outcomes for one exchange (blocking: regular expressions)."""
    text = ex.body.decode("utf-8", errors="replace")
    if ex.status is None:
        return Judged(False, [Outcome("request", False, ex.error or "no answer")], text, None)
    try:
        doc: Any = orjson.loads(ex.body) if ex.body else jsonpath.MISSING
    except orjson.JSONDecodeError:
        doc = jsonpath.MISSING
    reply = trace.model_reply(doc) if monitor.spec.target.type == "model" else None
    answer = Answer(ex.status, ex.latency_ms, text, doc, reply[0] if reply else None)
    outcomes = check(monitor.spec.assertions, answer)
    if ex.error is not None:
        outcomes.insert(0, Outcome("request", False, ex.error))
    if reply is not None and reply[0] is None and ex.status < 400:
        outcomes.append(Outcome("answer", False, "the answer is not a chat completion (no choices[0].message)"))
    return Judged(all(o.ok for o in outcomes), outcomes, text, reply)


class Runner:
    def __init__(
        self,
        db: MetaDB,
        box: SecretBox,
        settings: MonitorsSettings,
        ingest: IngestSettings,
        policy: TargetPolicy,
        append: Append,
        wait_processed: WaitProcessed,
        evaluate: EvaluateRules,
        refusal: Refusal = lambda project_id: None,
        resolve: Resolver = system_resolve,
    ) -> None:
        """`refusal` keeps a run's trace out of the WAL when ingest would be refused now (read-only node, WAL or
        disk over its limit, an encrypted project whose key is locked): the run is still recorded."""
        self.db, self.box, self.settings, self.ingest, self.policy = db, box, settings, ingest, policy
        self.append, self.wait_processed, self.evaluate, self.resolve = append, wait_processed, evaluate, resolve
        self.refusal = refusal
        self._slots = asyncio.Semaphore(settings.max_concurrent_runs)
        self.runs = 0  # runs since start, and those that failed (for logs and GET /metrics consumers)
        self.failures = 0

    async def run(self, monitor: StoredMonitor, manual: bool = False) -> dict[str, Any]:
        """Run `monitor` once; the run's record (also stored, unless the monitor was deleted meanwhile)."""
        run_id, trace_id, started_us = store.new_id("run"), secrets.token_hex(16), store.now_us()
        values = {"monitor_id": monitor.id, "run_id": run_id,
                  "timestamp": datetime.fromtimestamp(started_us / 1e6, UTC).isoformat()}  # fmt: skip
        async with self._slots:
            try:
                target = store.open_target(monitor, self.box)
            except SealError as exc:
                ex = request.Exchange(None, 0.0, b"", f"the monitor's secrets cannot be opened: {exc}", {})
            else:
                ex = await request.send(
                    target, values, policy=self.policy, timeout_s=monitor.spec.timeout_s,
                    max_bytes=self.settings.max_response_bytes, resolve=self.resolve,
                )  # fmt: skip
        judged = await asyncio.to_thread(judge, monitor, ex)
        outcomes = [o.as_dict() for o in judged.outcomes]
        events = trace.run_events(
            monitor=monitor.as_dict(), run_id=run_id, trace_id=trace_id, started_us=started_us,
            latency_ms=ex.latency_ms, ok=judged.ok, error=ex.error if ex.status is None else None, outcomes=outcomes,
            sent=ex.sent, status=ex.status, body=judged.body, reply=judged.reply,
        )  # fmt: skip
        lsn, not_stored = await self._record_trace(monitor.project_id, events)
        error = "; ".join(x for x in (_summary(judged.outcomes), not_stored) if x)[:500] or None
        run = {"id": run_id, "monitor_id": monitor.id, "started_at": started_us, "ok": judged.ok,
               "latency_ms": round(ex.latency_ms, 3), "status_code": ex.status, "assertions": outcomes,
               "failed": [o for o in outcomes if not o["ok"]], "error": error, "trace_id": trace_id,
               "trace_stored": not_stored is None, "manual": manual}  # fmt: skip
        self.runs += 1
        self.failures += 0 if judged.ok else 1
        keep = self.settings.runs_kept
        stored = await asyncio.to_thread(self.db.write, lambda c: store.record_run(c, monitor, run, keep))
        log.info("monitor run monitor=%s project=%s ok=%s latency_ms=%.1f", monitor.id, monitor.project_id,
                 judged.ok, ex.latency_ms)  # fmt: skip
        if stored and monitor.rule_ids and lsn is not None:
            await self.wait_processed(lsn, VISIBLE_WAIT_S)
            try:
                await self.evaluate(monitor.project_id, monitor.rule_ids)
            except Exception as exc:  # the rules are evaluated on their own interval anyway
                log.warning("monitor rules not evaluated monitor=%s error=%s", monitor.id, exc)
        return run

    async def _record_trace(self, project_id: str, events: list[dict[str, Any]]) -> tuple[int | None, str | None]:
        """Append the run's events to the WAL as the native API would: (its LSN, None), or (None, why not)."""
        refused = self.refusal(project_id)
        if refused is not None:
            log.warning("monitor run trace not stored project=%s reason=%s", project_id, refused)
            return None, f"trace not stored: {refused}"
        received_us = store.now_us()
        window = TimeWindow.at(self.ingest, received_us)
        kept = []
        for event in events:
            problem = validate_event(event, self.ingest.max_field_bytes, window)
            if problem is None:
                kept.append(event)
            else:  # our own events: a bug or a setting that refuses them, never a client's doing
                log.error("monitor run event refused project=%s error=%s", project_id, problem)
        if not kept:
            return None, "trace not stored: its events were refused (see the server log)"
        header = RecordHeader(project_id, received_us, "sdk")
        try:
            return await self.append(RecordType.EVENTS, header, orjson.dumps({"events": kept})), None
        except Exception as exc:  # the WAL refused it: the run is still recorded
            log.warning("monitor run trace not stored project=%s error=%s", project_id, exc)
            return None, f"trace not stored: {type(exc).__name__}: {exc}"


def _summary(outcomes: list[Outcome]) -> str | None:
    failed = [f"{o.type}: {o.detail}" for o in outcomes if not o.ok]
    return "; ".join(failed)[:500] or None

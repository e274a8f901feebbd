"""Alert evaluation in cluster mode: each rule's state lives in the bucket, so a firing is told once per cluster.

On one node the rule's state is in meta.db. In a cluster only the `alerts` lease holder evaluates, and the holder
changes when a node dies; with meta.db state the new holder would not know a rule is firing and would fire it
again. So the state (ok or firing, the open firing with its id, the notifications still to deliver) is one object
per rule in the bucket (docs/format/cluster.md, "Alert state"), read by a holder before its first evaluation of the
rule and written, fenced by the lease generation, on every transition. The order of one transition:

1. decide the transition from the stored state and the measured value (`advance`, pure);
2. write the new state with the notification in its outbox (compare-and-swap; refused -> read again, and stop
   when a higher generation wrote it);
3. mirror it into meta.db (the node's firings list and the rule's state, for its API and UI);
4. renew the lease (`confirm`: a renewal that succeeds after the write), then deliver, asking before every
   attempt whether the lease is still held at this generation;
5. when every channel has finished, remove the notification from the outbox (another fenced write).

A holder that dies between 2 and 5 leaves the notification in the outbox; the next holder claims the object
(rewrites it with its higher generation, so the old holder's writes fail) and delivers it, with the same
`notification_id`. This module never imports the cluster package: `SharedState` is what it needs of it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from lynex_box.alerts import store
from lynex_box.alerts.delivery import Deliverer
from lynex_box.alerts.payloads import Notification
from lynex_box.alerts.rules import breached
from lynex_box.alerts.store import StoredRule
from lynex_box.meta.db import MetaDB

log = logging.getLogger("lynex.alerts")
MAX_TRIES: Final = 5  # writes refused by a racing write of an equal or lower generation, read again each time


class SharedState(Protocol):
    """The rules' state objects in the bucket and the `alerts` lease (cluster/alertstate.py; blocking calls)."""

    def generation(self) -> int | None: ...

    def confirm(self, generation: int) -> bool: ...

    def read(self, rule_id: str) -> tuple[dict[str, Any], int, str] | None: ...

    def write(self, rule_id: str, state: dict[str, Any], generation: int, etag: str | None) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Known:
    """A rule's object as this node last read or wrote it while holding the lease at `generation`."""

    state: dict[str, Any] | None
    etag: str | None
    generation: int


def advance(
    state: dict[str, Any] | None, rule: StoredRule, value: float | None, at: int, firing_id: str
) -> tuple[dict[str, Any], str | None]:
    """The rule's next state after an evaluation that measured `value` at `at`, and the event to notify (firing,
    renotify, resolved) or None. `firing_id` names a firing that starts here. Pure: `state` is not changed."""
    spec = rule.spec
    now: dict[str, Any] = copy.deepcopy(state) if state else {"state": "ok", "firing": None, "outbox": []}
    now["project_id"] = rule.project_id
    firing = now.get("firing")
    open_firing = firing if firing is not None and firing["state"] == "firing" else None
    hit = breached(value, spec.comparison, spec.threshold)
    event: str | None = None
    if hit and open_firing is None:
        firing = {
            "id": firing_id,
            "state": "firing",
            "value": value,
            "threshold": spec.threshold,
            "started_at": at,
            "resolved_at": None,
            "resolved_value": None,
            "last_notified_at": at,
        }
        event = "firing"
    elif hit and open_firing is not None:
        last = open_firing["last_notified_at"] or open_firing["started_at"]
        if spec.renotify_s > 0 and at - last >= spec.renotify_s * 1_000_000:
            firing, event = {**open_firing, "last_notified_at": at}, "renotify"
    elif open_firing is not None:
        firing, event = {**open_firing, "state": "resolved", "resolved_at": at, "resolved_value": value}, "resolved"
    if event is None:
        return now, None
    assert firing is not None
    now["state"], now["firing"] = "firing" if firing["state"] == "firing" else "ok", firing
    note_id = f"{firing['id']}.renotify.{at}" if event == "renotify" else f"{firing['id']}.{event}"
    now.setdefault("outbox", []).append({"id": note_id, "event": event, "value": value, "at": at, "firing": firing})
    return now, event


class SharedAlerts:
    """The cluster-mode half of the evaluator: fenced state in the bucket, delivery from its outbox."""

    def __init__(self, shared: SharedState, db: MetaDB, deliverer: Deliverer, link: Callable[[str], str]) -> None:
        self.shared = shared
        self.db = db
        self.deliverer = deliverer
        self.link = link
        self._known: dict[str, Known] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._sending: set[str] = set()  # notification ids this process is delivering now
        self._unsettled: set[str] = set()  # delivered, but their removal from the outbox failed: remove, not resend

    def _lock(self, rule_id: str) -> asyncio.Lock:
        return self._locks.setdefault(rule_id, asyncio.Lock())

    async def evaluate(self, rule: StoredRule, started: int, value: float | None) -> None:
        """Move `rule`'s shared state by one evaluation, mirror it locally, then deliver what its outbox holds."""
        generation = self.shared.generation()
        if generation is None:
            return  # the lease went between the tick's start and now: the holder evaluates
        async with self._lock(rule.id):
            try:
                known, event = await self._move(rule, value, generation)
            except Exception as exc:  # the bucket unreachable, say: nothing is told; the next evaluation reads again
                self._known.pop(rule.id, None)
                error = f"the rule's state in the bucket could not be read or written: {type(exc).__name__}: {exc}"
                log.warning("alert evaluation failed rule=%s error=%s", rule.id, error)
                await asyncio.to_thread(
                    self.db.write, lambda c: store.apply_evaluation(c, rule.id, started, None, error)
                )
                return
            if known is None:
                return  # a higher generation wrote the state: another node holds the lease now
            current = known.state or {"state": "ok", "firing": None}
            try:
                local = await asyncio.to_thread(
                    self.db.write,
                    lambda c: store.mirror_shared(c, rule.id, started, value, current["state"], current["firing"]),
                )
            except Exception:  # the bucket's state is the truth: its notifications go out all the same
                log.exception("alert state not mirrored into meta.db rule=%s", rule.id)
                local = rule
        if event is not None:
            log.info("alert %s rule=%s project=%s value=%s generation=%d", event, rule.id, rule.project_id, value,
                     generation)  # fmt: skip
        if local is not None:
            await self._deliver_outbox(local, generation)

    async def _move(self, rule: StoredRule, value: float | None, generation: int) -> tuple[Known | None, str | None]:
        """Write the transition `value` causes (if any) into the rule's object: the object as known after it and
        the event, or None when a higher generation holds the object."""
        known = await self._load(rule.id, generation)
        for _ in range(MAX_TRIES):
            if known is None:
                return None, None
            state, event = advance(known.state, rule, value, store.now_us(), store.new_id("fir"))
            if event is None:
                return known, None
            etag = await asyncio.to_thread(self.shared.write, rule.id, state, generation, known.etag)
            if etag is not None:
                known = self._known[rule.id] = Known(state, etag, generation)
                return known, event
            known = await self._reread(rule.id, generation)
        log.warning("alert state not written rule=%s: %d writes refused in a row", rule.id, MAX_TRIES)
        return None, None

    async def _load(self, rule_id: str, generation: int) -> Known | None:
        """The rule's object as known under `generation`: read (and claimed) at the first use of a generation."""
        known = self._known.get(rule_id)
        if known is not None and known.generation == generation:
            return known
        return await self._reread(rule_id, generation)

    async def _reread(self, rule_id: str, generation: int) -> Known | None:
        """Read the object again; claim it (rewrite it at `generation`) when an older generation wrote it. None
        when a newer one did: this node must not write or deliver for the rule any more."""
        self._known.pop(rule_id, None)
        for _ in range(MAX_TRIES):
            got = await asyncio.to_thread(self.shared.read, rule_id)
            if got is None:
                known = Known(None, None, generation)
                break
            state, stored, etag = got
            if stored > generation:
                log.warning("alert state of rule=%s written by generation %d > ours %d: not evaluating it",
                            rule_id, stored, generation)  # fmt: skip
                return None
            if stored == generation:
                known = Known(state, etag, generation)
                break
            claimed = await asyncio.to_thread(self.shared.write, rule_id, state, generation, etag)
            if claimed is not None:
                log.info("alert state claimed rule=%s generation=%d (was %d) state=%s", rule_id, generation, stored,
                         state.get("state"))  # fmt: skip
                known = Known(state, claimed, generation)
                break
        else:
            return None
        self._known[rule_id] = known
        return known

    async def _deliver_outbox(self, rule: StoredRule, generation: int) -> None:
        known = self._known.get(rule.id)
        if known is None or known.state is None or known.generation != generation:
            return
        outbox = known.state.get("outbox", [])
        for entry in [n for n in outbox if n["id"] in self._unsettled]:
            await self._settle_logged(rule.id, entry["id"], generation)
        waiting = [n for n in outbox if n["id"] not in self._sending and n["id"] not in self._unsettled]
        if not waiting:
            return
        # a renewal that succeeds after the state write: no other node held the lease when the write landed
        if not await asyncio.to_thread(self.shared.confirm, generation):
            log.warning("alert notifications not sent rule=%s: the alerts lease was not confirmed", rule.id)
            return
        for entry in waiting:
            self._sending.add(entry["id"])
            note = Notification(
                entry["event"],
                replace(rule, state=entry["firing"]["state"], last_value=entry["value"]).as_dict(),
                entry["firing"],
                entry["value"],
                store.now_us(),
                self.link(rule.id),
                entry["id"],
            )

            async def done(finished: bool, rule_id: str = rule.id, note_id: str = entry["id"]) -> None:
                self._sending.discard(note_id)
                if finished:
                    self._unsettled.add(note_id)
                    await self._settle_logged(rule_id, note_id, generation)

            self.deliverer.dispatch(rule, note, gate=lambda: self.shared.generation() == generation, done=done)

    async def _settle_logged(self, rule_id: str, note_id: str, generation: int) -> None:
        """`_settle`, tried again at the rule's next evaluation when the bucket fails it (never sent again)."""
        try:
            await self._settle(rule_id, note_id, generation)
        except Exception as exc:
            log.warning("alert notification not removed from the outbox rule=%s notification=%s error=%s: trying "
                        "again at the next evaluation", rule_id, note_id, exc)  # fmt: skip
            return
        self._unsettled.discard(note_id)

    async def _settle(self, rule_id: str, note_id: str, generation: int) -> None:
        """Remove a delivered notification from the rule's outbox (unless the lease moved meanwhile)."""
        async with self._lock(rule_id):
            known = await self._load(rule_id, generation)
            for _ in range(MAX_TRIES):
                if known is None or known.state is None or self.shared.generation() != generation:
                    return
                outbox = known.state.get("outbox", [])
                if all(n["id"] != note_id for n in outbox):
                    return
                state = {**known.state, "outbox": [n for n in outbox if n["id"] != note_id]}
                etag = await asyncio.to_thread(self.shared.write, rule_id, state, generation, known.etag)
                if etag is not None:
                    self._known[rule_id] = Known(state, etag, generation)
                    return
                known = await self._reread(rule_id, generation)

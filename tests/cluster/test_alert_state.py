"""Alert state in the bucket under the `alerts` lease (docs/format/cluster.md, "Alert state"): a new holder
continues the episode, and a stale holder (a lower generation, e.g. a paused process whose clock runs behind)
can neither overwrite the state nor deliver. Real parts: the moto S3 server, two lease keepers, meta.db, the
evaluator's cluster half (`alerts/shared.py`) and its deliverer posting to a real HTTP receiver.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lynex_box.alerts import store
from lynex_box.alerts.delivery import Deliverer
from lynex_box.alerts.rules import RuleLimits, parse_rule
from lynex_box.alerts.sealing import KEY_BYTES, SecretBox
from lynex_box.alerts.shared import SharedAlerts
from lynex_box.alerts.store import StoredRule
from lynex_box.alerts.targets import TargetPolicy
from lynex_box.auth.bootstrap import bootstrap_if_empty
from lynex_box.cluster import LeaseKeeper
from lynex_box.cluster.alertstate import AlertStateStore
from lynex_box.cluster.records import alert_state_key
from lynex_box.config import AlertsSettings
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStore
from tests.alerts.channel_types import CHANNELS
from tests.alerts.receiver import Receiver
from tests.cluster.conftest import FakeClock, LosesAnswers

TTL, SKEW = 15.0, 1.0
SETTINGS = AlertsSettings(delivery_backoff_s=0.01, allowed_target_networks="127.0.0.1/32")


@dataclass
class Node:
    """One node's view: its clock, its lease keeper, its state store and the evaluator's cluster half."""

    clock: FakeClock
    keeper: LeaseKeeper
    states: AlertStateStore
    alerts: SharedAlerts
    deliverer: Deliverer


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def world(tmp_path: Path, receiver: Receiver) -> Iterator[tuple[MetaDB, SecretBox, StoredRule]]:
    db = MetaDB(tmp_path / "meta.db")
    boot = bootstrap_if_empty(db)
    assert boot is not None
    box = SecretBox(os.urandom(KEY_BYTES))
    doc = {
        "name": "errors",
        "metric": "error_count",
        "comparison": "gte",
        "threshold": 1,
        "window_s": 60,
        "interval_s": 10,
        "channels": [{"type": "webhook", "url": receiver.url + "/hook"}],
    }
    spec = parse_rule(doc, RuleLimits(targets=TargetPolicy.from_settings(SETTINGS), channels=CHANNELS))
    actor = Actor("system", "test", "test")
    rule = db.write(lambda c: store.create_rule(c, box, boot.project_id, spec, actor, 10))
    yield db, box, rule
    db.close()


def node(s3: ObjectStore, db: MetaDB, box: SecretBox, name: str, clock: FakeClock) -> Node:
    keeper = LeaseKeeper(s3, holder=name, incarnation=f"inc-{name}", ttl_s=TTL, max_clock_skew_s=SKEW, clock=clock)
    states = AlertStateStore(s3, keeper, name, clock)
    deliverer = Deliverer(db, box, SETTINGS, channels=CHANNELS)
    return Node(clock, keeper, states, SharedAlerts(states, db, deliverer, lambda rule_id: ""), deliverer)


def stored(s3: ObjectStore, rule_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(s3.get(alert_state_key(rule_id)).data)
    return doc


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {timeout_s} s")


def kinds(receiver: Receiver) -> list[tuple[str, str]]:
    return [(r.json()["type"], r.json()["notification_id"]) for r in receiver.on("/hook")]


def test_a_new_holder_continues_the_episode_and_a_stale_one_that_wrote_first_does_not_deliver(
    s3: ObjectStore, world: tuple[MetaDB, SecretBox, StoredRule], receiver: Receiver
) -> None:
    db, box, rule = world
    # node-a's clock runs 2 ttl behind: it still believes it holds the lease after node-b took it over
    a = node(s3, db, box, "node-a", FakeClock())
    b = node(s3, db, box, "node-b", FakeClock())

    async def run() -> None:
        a.keeper.tick()
        assert a.states.generation() == 1
        await a.alerts.evaluate(rule, a.clock.now, 5.0)
        await until(lambda: stored(s3, rule.id)["state"]["outbox"] == [])
        [(kind, firing_note)] = kinds(receiver)
        assert kind == "alert.firing"
        firing_id = stored(s3, rule.id)["state"]["firing"]["id"]

        b.clock.advance(TTL + SKEW + 1)  # node-a stopped renewing (paused); by node-b's clock the lease expired
        b.keeper.tick()
        assert b.states.generation() == 2 and a.states.generation() == 1  # a's clock is behind: it thinks it holds

        # the stale holder evaluates first: the errors are gone, so it resolves. Its write lands (node-b has not
        # read the state yet), but its lease renewal after the write fails: it delivers nothing
        await a.alerts.evaluate(rule, a.clock.now, 0.0)
        assert stored(s3, rule.id)["generation"] == 1 and stored(s3, rule.id)["state"]["state"] == "ok"
        assert a.states.generation() is None  # the failed renewal dropped the lease
        await asyncio.sleep(0.3)
        assert kinds(receiver) == [("alert.firing", firing_note)]

        # the new holder claims the state (generation 2), continues it and delivers what the stale one left
        await b.alerts.evaluate(rule, b.clock.now, 0.0)
        await until(lambda: len(receiver.on("/hook")) == 2)
        assert kinds(receiver) == [("alert.firing", f"{firing_id}.firing"), ("alert.resolved", f"{firing_id}.resolved")]
        await until(lambda: stored(s3, rule.id)["state"]["outbox"] == [])
        after = stored(s3, rule.id)
        assert (after["generation"], after["holder"], after["state"]["firing"]["id"]) == (2, "node-b", firing_id)
        await a.deliverer.close()
        await b.deliverer.close()

    asyncio.run(run())


def test_a_stale_holder_cannot_overwrite_the_state_a_new_holder_claimed(
    s3: ObjectStore, world: tuple[MetaDB, SecretBox, StoredRule], receiver: Receiver
) -> None:
    db, box, rule = world
    a = node(s3, db, box, "node-a", FakeClock())
    b = node(s3, db, box, "node-b", FakeClock())

    async def run() -> None:
        a.keeper.tick()
        await a.alerts.evaluate(rule, a.clock.now, 5.0)  # fires at generation 1
        await until(lambda: stored(s3, rule.id)["state"]["outbox"] == [])
        b.clock.advance(TTL + SKEW + 1)
        b.keeper.tick()
        await b.alerts.evaluate(rule, b.clock.now, 5.0)  # claims at generation 2: still firing, nothing told
        claimed = stored(s3, rule.id)
        assert claimed["generation"] == 2 and claimed["state"]["state"] == "firing"

        # the stale holder (its clock behind, so its lease looks live to it) resolves: its write is refused, it
        # reads the state again, finds generation 2 and stops: no state change, no delivery
        await a.alerts.evaluate(rule, a.clock.now, 0.0)
        assert stored(s3, rule.id) == claimed
        assert a.states.write(rule.id, {"state": "ok"}, 1, None) is None  # nor can a create-only write
        await asyncio.sleep(0.3)
        assert [k for k, _ in kinds(receiver)] == ["alert.firing"]
        await a.deliverer.close()
        await b.deliverer.close()

    asyncio.run(run())


def test_a_state_write_whose_answer_was_lost_is_neither_repeated_nor_lost(
    world: tuple[MetaDB, SecretBox, StoredRule], receiver: Receiver
) -> None:
    """The store applies the write that records a firing but the answer times out: that evaluation tells nothing
    (recorded as the rule's error); the next one finds its own write and delivers the firing once."""
    db, box, rule = world
    s3 = LosesAnswers()
    a = node(s3, db, box, "node-a", FakeClock())

    async def run() -> None:
        a.keeper.tick()
        s3.lose = 1
        await a.alerts.evaluate(rule, a.clock.now, 5.0)
        assert stored(s3, rule.id)["state"]["state"] == "firing"  # applied, although its answer was lost
        assert "could not be read or written" in _error(db, rule)
        await asyncio.sleep(0.3)
        assert receiver.on("/hook") == []
        await a.alerts.evaluate(rule, a.clock.now + 1, 5.0)
        await until(lambda: stored(s3, rule.id)["state"]["outbox"] == [])
        await a.alerts.evaluate(rule, a.clock.now + 2, 5.0)
        await asyncio.sleep(0.3)
        firing_id = stored(s3, rule.id)["state"]["firing"]["id"]
        assert kinds(receiver) == [("alert.firing", f"{firing_id}.firing")]
        await a.deliverer.close()

    asyncio.run(run())


def _error(db: MetaDB, rule: StoredRule) -> str:
    got = store.get_rule(db.reader(), rule.project_id, rule.id)
    assert got is not None and got.last_error is not None
    return got.last_error

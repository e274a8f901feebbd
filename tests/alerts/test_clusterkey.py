"""The alerts sealing key in cluster mode (alerts/clusterkey.py), on a real meta.db: the holder publishes its key
(wrapped by the KEK when there is one), another node switches to it, an explicit key file is never published nor
replaced, and a rule the key in use does not open is logged by its id. The bucket side is in
tests/e2e/test_cluster_alerts.py."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from lynex_box.alerts import store
from lynex_box.alerts.clusterkey import SETTING, ClusterSealing, read_shared_key
from lynex_box.alerts.rules import RuleLimits, parse_rule
from lynex_box.alerts.sealing import SecretBox
from lynex_box.alerts.targets import TargetPolicy, parse_networks
from lynex_box.auth.bootstrap import bootstrap_if_empty
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB
from lynex_box.segments.keywrap import Kek
from tests.alerts.channel_types import CHANNELS


@pytest.fixture
def db(tmp_path: Path) -> Iterator[MetaDB]:
    db = MetaDB(tmp_path / "meta.db")
    assert bootstrap_if_empty(db) is not None
    try:
        yield db
    finally:
        db.close()


def setting(db: MetaDB) -> str | None:
    rows = db.read("SELECT value FROM instance_settings WHERE key = ?", (SETTING,))
    return str(rows[0][0]) if rows else None


def add_rule(db: MetaDB, box: SecretBox) -> str:
    project = str(db.read("SELECT id FROM projects LIMIT 1")[0][0])
    limits = RuleLimits(targets=TargetPolicy(allowed=parse_networks("0.0.0.0/0")), channels=CHANNELS)
    doc = {"name": "sealed", "metric": "span_count", "comparison": "gt", "threshold": 1, "window_s": 60}
    spec = parse_rule(doc | {"channels": [{"type": "webhook", "url": "http://10.0.0.1/h?token=t"}]}, limits)
    rule = db.write(lambda c: store.create_rule(c, box, project, spec, Actor("system", "test", "test"), 100))
    return rule.id


def test_the_holder_publishes_its_key_wrapped_by_the_kek_and_another_node_switches_to_it(db: MetaDB) -> None:
    kek = Kek(secrets.token_bytes(32))
    holder = SecretBox(secrets.token_bytes(32))
    ClusterSealing(db, holder, kek, explicit=False, may_publish=lambda: True).start()
    value = setting(db)
    assert value is not None and value.startswith("kek:")
    for form in (holder.key.hex(), base64.b64encode(holder.key).decode()):
        assert form not in value
    assert read_shared_key(db, kek) == holder.key
    other = SecretBox(secrets.token_bytes(32))  # a joined node's own key file
    ClusterSealing(db, other, kek, explicit=False, may_publish=lambda: False).start()
    assert other.holds(holder.key)


def test_without_a_kek_the_key_is_stored_plain(db: MetaDB) -> None:
    box = SecretBox(secrets.token_bytes(32))
    ClusterSealing(db, box, None, explicit=False, may_publish=lambda: True).start()
    assert setting(db) == "plain:" + base64.b64encode(box.key).decode()


def test_a_node_that_may_not_publish_keeps_its_key_until_the_setting_arrives(db: MetaDB) -> None:
    box = SecretBox(secrets.token_bytes(32))
    sealing = ClusterSealing(db, box, None, explicit=False, may_publish=lambda: False)
    own = box.key
    sealing.start()
    assert setting(db) is None and box.holds(own)
    published = secrets.token_bytes(32)
    value = "plain:" + base64.b64encode(published).decode()
    db.write(lambda c: c.execute("INSERT INTO instance_settings (key, value) VALUES (?, ?)", (SETTING, value)))
    sealing.refresh()  # what app.py does after the log changed instance_settings
    assert box.holds(published)


def test_an_explicit_key_file_is_never_published_and_a_rule_it_does_not_open_is_logged(
    db: MetaDB, caplog: pytest.LogCaptureFixture
) -> None:
    rule_id = add_rule(db, SecretBox(secrets.token_bytes(32)))  # sealed with another node's key
    box = SecretBox(secrets.token_bytes(32))
    own = box.key
    with caplog.at_level(logging.ERROR, logger="lynex.alerts"):
        ClusterSealing(db, box, None, explicit=True, may_publish=lambda: True).start()
    assert setting(db) is None and box.holds(own)
    assert any(rule_id in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_a_key_that_does_not_open_the_stored_rules_is_not_published(
    db: MetaDB, caplog: pytest.LogCaptureFixture
) -> None:
    add_rule(db, SecretBox(secrets.token_bytes(32)))
    with caplog.at_level(logging.ERROR, logger="lynex.alerts"):
        ClusterSealing(db, SecretBox(secrets.token_bytes(32)), None, False, lambda: True).start()
    assert setting(db) is None
    assert any("not published" in r.getMessage() for r in caplog.records)


def test_a_key_sealed_with_a_kek_this_node_lacks_is_logged_and_the_own_key_kept(
    db: MetaDB, caplog: pytest.LogCaptureFixture
) -> None:
    ClusterSealing(db, SecretBox(secrets.token_bytes(32)), Kek(secrets.token_bytes(32)), False, lambda: True).start()
    box = SecretBox(secrets.token_bytes(32))
    own = box.key
    with caplog.at_level(logging.ERROR, logger="lynex.alerts"):
        ClusterSealing(db, box, None, False, lambda: False).start()
    assert box.holds(own)
    assert any("KEK" in r.getMessage() for r in caplog.records)

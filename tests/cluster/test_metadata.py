"""The metadata log (step 3) over real meta.db files and the real moto server: the capture, the holder's entries
written inside its transactions, a joining node bootstrapped from the snapshot, applying on the others, the
refusal of writes on a node that does not hold the `metadata` lease, fences, snapshots and pruning."""

from __future__ import annotations

import json
from pathlib import Path

import apsw
import pytest

from lynex_box.auth.admin import create_key, create_org, revoke_key
from lynex_box.auth.bootstrap import bootstrap_if_empty
from lynex_box.auth.keys import KeyRing
from lynex_box.auth.sessions import SessionStore
from lynex_box.cluster.metalog import LOG_PREFIX, Entry, log_key
from lynex_box.cluster.metasnapshot import POINTER_KEY, SNAPSHOTS_PREFIX
from lynex_box.cluster.metatables import LOCAL_TABLES, REPLICATED, meta_tables
from lynex_box.cluster.node import ClusterNode, NodeIdentity
from lynex_box.cluster.replicator import MetaWriteRefused, MetaWriteUnavailable
from lynex_box.cluster.secret import cluster_secret
from lynex_box.config import AuthSettings, ClusterSettings
from lynex_box.lifecycle import deletion
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStore, PutResult, StoreUnavailable

SETTINGS = ClusterSettings(enabled=True, lease_ttl_s=3.0, heartbeat_s=0.5, max_clock_skew_s=0.5, snapshot_every=5)


def start(store: ObjectStore, db: MetaDB, node_id: str) -> ClusterNode:
    identity = NodeIdentity(node_id, f"http://{node_id}:4318", "0.9.0", "moto://")
    return ClusterNode.start(store, SETTINGS, db, identity, lambda reason: None)


@pytest.fixture
def pair(s3: ObjectStore, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Node a founds with accounts (and holds every lease), node b joins with an empty data dir."""
    db_a, db_b = MetaDB(tmp_path / "a" / "meta.db"), MetaDB(tmp_path / "b" / "meta.db")
    created = bootstrap_if_empty(db_a)
    a = start(s3, db_a, "node-a")
    b = start(s3, db_b, "node-b")
    yield a, b, db_a, db_b, created
    for node in (b, a):
        node.stop()
    db_a.close()
    db_b.close()


def keys_of(db: MetaDB) -> dict[str, int | None]:
    return {r[0]: r[1] for r in db.read("SELECT id, revoked_at FROM api_keys")}


def test_every_table_is_decided(tmp_path: Path) -> None:
    """A migration that adds a table must say whether it travels in the log (metatables.py)."""
    db = MetaDB(tmp_path / "meta.db")
    try:
        tables = meta_tables(db.reader())
    finally:
        db.close()
    assert tables - set(REPLICATED) - LOCAL_TABLES == set()
    assert set(REPLICATED) <= tables


def test_join_bootstraps_from_snapshot_then_follows_the_log(pair, s3: ObjectStore) -> None:  # type: ignore[no-untyped-def]
    a, b, db_a, db_b, created = pair
    assert a.holds("metadata") is not None and b.holds("metadata") is None
    # b joined with an empty data dir: the founder's accounts came from snapshot 0
    assert keys_of(db_b) == keys_of(db_a) and len(keys_of(db_b)) == 1
    ring = KeyRing(db_b)
    ring.refresh()
    assert ring.check(created.api_key) is not None
    assert cluster_secret(db_b) == cluster_secret(db_a) and len(cluster_secret(db_a)) == 32
    # a key created on the holder: one log entry, applied on b
    new = create_key(db_a, created.project_id, "ingest", name="k2")
    assert b.meta is not None and a.meta is not None
    assert b.meta.wait_applied(a.meta.applied_seq, 5.0)
    assert new.key_id in keys_of(db_b)
    ring.refresh()
    assert ring.check(new.api_key) is not None
    # revoked on the holder: revoked on b
    assert revoke_key(db_a, new.key_id)
    assert b.meta.wait_applied(a.meta.applied_seq, 5.0)
    assert keys_of(db_b)[new.key_id] is not None
    ring.refresh()
    assert ring.check(new.api_key) is None
    # a login's session arrives whole (its last-seen time, each node's own after that, is NOT NULL)
    sessions = SessionStore(db_a, AuthSettings())
    user = db_a.read("SELECT id FROM users")[0][0]
    new_session = db_a.write(lambda c: sessions.create_in(c, user, "127.0.0.1", "test"))
    assert b.meta.wait_applied(a.meta.applied_seq, 5.0)
    assert SessionStore(db_b, AuthSettings()).resolve(new_session.token) is not None
    # the audit entries of those writes travelled too
    actions = [r[0] for r in db_b.read("SELECT action FROM audit_log ORDER BY id")]
    assert "key.revoked" in actions or any("revoke" in a for a in actions)


def test_local_columns_and_settings_capture_nothing(pair, s3: ObjectStore) -> None:  # type: ignore[no-untyped-def]
    a, _b, db_a, db_b, created = pair
    assert a.meta is not None
    before = a.meta.applied_seq
    ring = KeyRing(db_a)
    ring.refresh()
    assert ring.check(created.api_key) is not None
    ring.write_last_used()  # api_keys.last_used_at is each node's own
    db_a.write(lambda c: c.execute("UPDATE instance_settings SET value = 'x' WHERE key = 'node_id'"))
    assert a.meta.applied_seq == before
    assert [m.key for m in s3.list(LOG_PREFIX + "/")][-1] == log_key(before)
    # and the same writes on a node that does not hold the lease are not refused
    ring_b = KeyRing(db_b)
    ring_b.refresh()
    assert ring_b.check(created.api_key) is not None
    ring_b.write_last_used()


def test_a_write_on_a_node_without_the_lease_is_refused(pair) -> None:  # type: ignore[no-untyped-def]
    _a, _b, _db_a, db_b, created = pair
    before = keys_of(db_b)
    with pytest.raises(MetaWriteRefused, match="metadata lease holder"):
        create_key(db_b, created.project_id, "ingest", name="bypass")
    assert keys_of(db_b) == before  # rolled back
    # its own audit entries (a request it answered itself) are not refused
    from lynex_box.meta import audit

    audit.record_now(db_b, audit.Actor("system", "x", "x"), "login.failed", project_id=created.project_id)


def test_parent_and_children_in_one_entry_and_deletions(pair) -> None:  # type: ignore[no-untyped-def]
    """Rows that reference each other arrive in one entry; deletions by key; a tombstone is recreated on b."""
    a, b, db_a, db_b, _created = pair
    assert a.meta is not None and b.meta is not None

    def tx(conn: apsw.Connection) -> None:
        conn.execute("INSERT INTO orgs (id, name, created_at) VALUES ('org_x', 'x', 1)")
        conn.execute("INSERT INTO projects (id, org_id, name, created_at) VALUES ('proj_x', 'org_x', 'x', 1)")
        conn.execute(
            "INSERT INTO project_data_keys (project_id, wrapped, kek_fingerprint, created_at) "
            "VALUES ('proj_x', x'00ff10', 'fp', 1)"
        )

    db_a.write(tx)
    key = create_key(db_a, "proj_x", "read")
    deletion.delete(db_a, "proj_x", "trace", "t-1", 60.0)
    db_a.write(lambda c: c.execute("DELETE FROM project_data_keys WHERE project_id = 'proj_x'"))
    db_a.write(lambda c: c.execute("DELETE FROM api_keys WHERE id = ?", (key.key_id,)))
    assert b.meta.wait_applied(a.meta.applied_seq, 5.0)
    assert db_b.read("SELECT name FROM projects WHERE id = 'proj_x'") == [("x",)]
    assert db_b.read("SELECT * FROM project_data_keys") == []
    assert key.key_id not in keys_of(db_b)
    assert db_b.read("SELECT project_id, kind, value, wal_lsn FROM tombstones") == [("proj_x", "trace", "t-1", None)]
    # the holder's purge drops its own tombstone: b keeps its own until its own purge
    db_a.write(lambda c: c.execute("DELETE FROM tombstones"))
    create_org(db_a, "later")
    assert b.meta.wait_applied(a.meta.applied_seq, 5.0)
    assert len(db_b.read("SELECT * FROM tombstones")) == 1


def test_a_write_whose_entry_cannot_be_written_fails_and_changes_nothing(pair, s3: ObjectStore) -> None:  # type: ignore[no-untyped-def]
    a, _b, db_a, _db_b, created = pair
    assert a.meta is not None
    inner = a.meta.store

    class Failing:
        def __getattr__(self, name: str) -> object:
            return getattr(inner, name)

        def put_if_absent(self, key: str, data: bytes) -> PutResult:
            raise StoreUnavailable("down", key=key)

    a.meta.store = Failing()  # type: ignore[assignment]
    before = keys_of(db_a)
    try:
        with pytest.raises(MetaWriteUnavailable, match="cannot be written"):
            create_key(db_a, created.project_id, "ingest")
    finally:
        a.meta.store = inner
    assert keys_of(db_a) == before


def test_a_new_holder_fences_and_a_stale_entry_is_ignored(pair, s3: ObjectStore) -> None:  # type: ignore[no-untyped-def]
    a, b, db_a, db_b, created = pair
    assert a.meta is not None and b.meta is not None
    old_generation = a.holds("metadata")
    assert old_generation is not None
    a.keeper.stop(release=True)  # a gives its leases up; b takes metadata at its next tick and fences
    b.keeper.tick()
    generation = b.holds("metadata")
    assert generation is not None and generation > old_generation
    b.meta.poll()
    last = json.loads(s3.get(log_key(b.meta.applied_seq)).data)
    assert last["fence"] is True and last["generation"] == generation and last["node"] == "node-b"
    # the old holder, paused, writes an entry of its old generation after the fence: everyone skips it
    stale = Entry(
        b.meta.applied_seq + 1, old_generation, 1, "node-a",
        [{"table": "orgs", "op": "upsert", "key": {"id": "org_stale"},
          "row": {"id": "org_stale", "name": "s", "created_at": 1}}],
    )  # fmt: skip
    s3.put_if_absent(log_key(stale.seq), stale.to_bytes())
    b.meta.poll()
    a.meta.poll()
    assert db_b.read("SELECT * FROM orgs WHERE id = 'org_stale'") == []
    assert db_a.read("SELECT * FROM orgs WHERE id = 'org_stale'") == []
    # the new holder's writes reach the old one
    key = create_key(db_b, created.project_id, "ingest")
    assert a.meta.wait_applied(b.meta.applied_seq, 5.0)
    assert key.key_id in keys_of(db_a)
    with pytest.raises(MetaWriteRefused):
        create_org(db_a, "not here any more")


def test_snapshots_every_n_entries_and_pruning(pair, s3: ObjectStore, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, _b, db_a, _db_b, _created = pair
    assert a.meta is not None
    for i in range(12):  # snapshot_every = 5
        create_org(db_a, f"org {i}")
        a.meta.poll()
    pointer = json.loads(s3.get(POINTER_KEY).data)
    snaps = sorted(m.key for m in s3.list(SNAPSHOTS_PREFIX + "/"))
    assert len(snaps) == 2 and pointer["key"] == snaps[-1] and pointer["seq"] >= 10
    oldest_log = min(int(m.key.rsplit("/", 1)[-1][:20]) for m in s3.list(LOG_PREFIX + "/"))
    second = int(snaps[0].rsplit("/", 1)[-1][:20])
    assert oldest_log == second + 1
    # a third node joining now loads the newest snapshot and the log after it
    db_c = MetaDB(tmp_path / "c" / "meta.db")
    c = start(s3, db_c, "node-c")
    try:
        assert c.meta is not None
        assert c.meta.applied_seq == a.meta.applied_seq
        names = {r[0] for r in db_c.read("SELECT name FROM orgs")}
        assert {f"org {i}" for i in range(12)} <= names
    finally:
        c.stop()
        db_c.close()


def test_a_cluster_founded_before_the_log_gets_its_first_snapshot_from_the_holder(pair, s3: ObjectStore) -> None:  # type: ignore[no-untyped-def]
    """Nodes of a cluster founded by a release without the log have no log state and the bucket no snapshot: the
    holder's meta.db becomes the cluster's (fence, snapshot), and the other nodes load it."""
    a, b, db_a, db_b, _created = pair
    assert a.meta is not None and b.meta is not None
    for meta in s3.list("cluster/meta/"):
        s3.delete(meta.key)
    for db in (db_a, db_b):
        db.write(lambda c: c.execute("DELETE FROM instance_settings WHERE key LIKE 'cluster_meta_%'"))
    other = apsw.Connection(str(db_b.path))  # another process (no capture there): b's own copy differs
    other.execute("DELETE FROM api_keys")
    other.execute("INSERT INTO orgs (id, name, created_at) VALUES ('org_only_b', 'b', 1)")
    other.close()
    a.meta._fenced_gen = a.meta._snapshot_seq = None  # as a process of the new release starting
    b.meta.poll()
    assert b.meta.applied_seq == -1  # nothing to load yet
    a.meta.poll()
    assert a.meta.applied_seq == 1 and json.loads(s3.get(POINTER_KEY).data)["seq"] == 1
    b.meta.poll()
    assert b.meta.applied_seq == 1 and keys_of(db_b) == keys_of(db_a)
    assert db_b.read("SELECT id FROM orgs ORDER BY id") == db_a.read("SELECT id FROM orgs ORDER BY id")


def test_applied_entries_are_handed_to_on_applied(pair) -> None:  # type: ignore[no-untyped-def]
    a, b, db_a, _db_b, _created = pair
    assert a.meta is not None and b.meta is not None
    seen: list[tuple[set[str], list[dict[str, object]]]] = []
    b.meta.on_applied = lambda tables, changes: seen.append((tables, changes))
    revoke_key(db_a, next(iter(keys_of(db_a))))
    assert b.meta.wait_applied(a.meta.applied_seq, 5.0)
    tables = set().union(*(t for t, _ in seen))
    assert {"api_keys", "audit_log"} <= tables
    actions = [c["row"]["action"] for _, changes in seen for c in changes if c["table"] == "audit_log"]
    assert "key.revoked" in actions

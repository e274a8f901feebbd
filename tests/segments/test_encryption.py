"""Per-project encryption at rest: encrypted segment files, transparent queries and rewrites, locked projects."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import apsw
import pyarrow.parquet as pq
import pytest

from lynex_box.auth.admin import CLI_ACTOR
from lynex_box.engine import Engine
from lynex_box.lifecycle.deletion import delete
from lynex_box.lifecycle.export import plan_reads, tables
from lynex_box.query.engine import SpanScope
from lynex_box.segments.encryption import KeyUnavailable, is_encrypted
from lynex_box.segments.keywrap import Kek, KekError, WrongKek
from tests.lifecycle.conftest import DAY_MS, add_segment, events, ingest, now_ms, rows, settings_for

SECRET = "zebra-marker-7f3a9c"  # a prompt that must never be readable in an encrypted file
AGG = "SELECT model, count(*) AS n, sum(input_tokens) AS tokens, min(start_time) AS first FROM spans GROUP BY ALL"


def with_secret(tag: str, n: int, start_ms: int) -> bytes:
    return events(tag, n, start_ms).replace(b"question", SECRET.encode())


def new_kek_file(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "kek.hex"
    path.write_text(secrets.token_bytes(32).hex() + "\n")
    return path


def add_projects(engine: Engine, *project_ids: str) -> None:
    def tx(conn: apsw.Connection) -> None:
        conn.execute("INSERT OR IGNORE INTO orgs (id, name, created_at) VALUES ('org1', 'org', 0)")
        for pid in project_ids:
            conn.execute("INSERT OR IGNORE INTO projects (id, org_id, name, created_at) VALUES (?, 'org1', ?, 0)",
                         (pid, pid))  # fmt: skip

    engine.meta.write(tx)


def files_of(engine: Engine, project: str) -> list[Path]:
    return [engine.data_dir / e.path for e in engine.store.segment_entries(project) if e.location == "local"]


def open_with(tmp_path: Path, kek: Path | None, **sections: dict[str, Any]) -> Engine:
    encryption = {"kek_file": str(kek)} if kek is not None else {}
    return Engine.open(settings_for(tmp_path / "data", encryption=encryption, **sections))


@pytest.fixture
def kek(tmp_path: Path) -> Path:
    return new_kek_file(tmp_path / "secrets")


def test_encrypted_segments_hold_no_plaintext_and_query_like_a_plaintext_project(tmp_path: Path, kek: Path) -> None:
    engine = open_with(tmp_path, kek)
    add_projects(engine, "enc", "plain")
    assert engine.data_keys.enable("enc", CLI_ACTOR) is True
    assert engine.data_keys.enable("enc", CLI_ACTOR) is False  # already on: no second key
    start = now_ms() - DAY_MS
    for project in ("enc", "plain"):
        add_segment(engine, project, "a", 40, start)
        add_segment(engine, project, "b", 30, start + 60_000)
        ingest(engine, project, with_secret("c", 5, start + 120_000))  # still in the head
    engine.catch_up()
    for path in files_of(engine, "enc"):
        data = path.read_bytes()
        assert data.endswith(b"PARE") and is_encrypted(path)
        assert SECRET.encode() not in data and b"question" not in data and b"trace_id" not in data
        with pytest.raises(OSError):
            pq.read_table(path)  # not even the footer opens without the key
    for path in files_of(engine, "plain"):
        assert path.read_bytes().endswith(b"PAR1") and b"trace_id" in path.read_bytes()  # the grep would see it
    for sql in (AGG, "SELECT event_id, trace_id, input, start_time FROM spans ORDER BY event_id"):
        assert rows(engine, "enc", sql) == rows(engine, "plain", sql)
    trace = SpanScope("enc", trace_id="a-t3")
    assert engine.query.run(trace, "SELECT count(*) AS n FROM spans").to_pylist() == [{"n": 5}]
    filtered = "SELECT count(*) AS n FROM spans WHERE input LIKE '%zebra%' AND start_time > now() - INTERVAL 2 DAY"
    assert rows(engine, "enc", filtered) == rows(engine, "plain", filtered) != [{"n": 0}]
    engine.close()

    engine = open_with(tmp_path, kek)  # after a restart: the key is unwrapped from meta.db again
    assert rows(engine, "enc", AGG) == rows(engine, "plain", AGG)
    for path in files_of(engine, "enc"):  # the head's spans were flushed encrypted too
        assert is_encrypted(path) and SECRET.encode() not in path.read_bytes()
    engine.close()


def test_compaction_retention_deletion_and_export_work_on_encrypted_data(tmp_path: Path, kek: Path) -> None:
    compaction = {"min_segments": 2, "window_s": 10 * 365 * 86_400}
    engine = open_with(tmp_path, kek, compaction=compaction, retention={"days": 5})
    add_projects(engine, "p1")
    add_segment(engine, "p1", "before", 10, now_ms() - 7 * DAY_MS, step_ms=DAY_MS // 2)  # plaintext, partly expired
    assert not any(is_encrypted(p) for p in files_of(engine, "p1"))
    engine.data_keys.enable("p1", CLI_ACTOR)
    add_segment(engine, "p1", "after", 10, now_ms() - DAY_MS)
    add_segment(engine, "p1", "later", 10, now_ms() - DAY_MS // 2)
    expected = rows(engine, "p1")
    assert engine.lifecycle.compact() == 1  # the old plaintext segment is merged with the encrypted ones
    assert rows(engine, "p1") == expected
    assert files_of(engine, "p1") and all(is_encrypted(p) for p in files_of(engine, "p1"))

    delete(engine.meta, "p1", "user", "user-1", 3600)
    hidden = [r for r in expected if r["user_id"] != "user-1"]
    assert rows(engine, "p1") == hidden
    assert engine.lifecycle.purge_deletions() == 1
    assert rows(engine, "p1") == hidden and all(is_encrypted(p) for p in files_of(engine, "p1"))
    cipher = engine.data_keys.cipher("p1")
    assert cipher is not None
    props = cipher.decryption_properties()
    users = [u for p in files_of(engine, "p1") for u in pq.read_table(p, decryption_properties=props)["user_id"]]
    assert users and "user-1" not in {u.as_py() for u in users}  # gone from the file, read with the key

    reads = plan_reads(engine.query, "p1", now_ms() * 1000 - 30 * DAY_MS * 1000, now_ms() * 1000, 3_600_000_000)
    exported = [t for t, _ in tables(engine.query, "p1", reads)]
    assert sum(t.num_rows for t in exported) == len(hidden)
    engine.close()


def test_offloaded_encrypted_segments_are_read_back_through_the_cache(tmp_path: Path, kek: Path) -> None:
    bucket = {"type": "directory", "directory": str(tmp_path / "bucket")}
    engine = open_with(tmp_path, kek, bucket=bucket, offload={"hot_window_s": 2 * 86_400})
    add_projects(engine, "p1")
    engine.data_keys.enable("p1", CLI_ACTOR)
    for k in range(3):
        add_segment(engine, "p1", f"old{k}", 20, now_ms() - (10 - k) * DAY_MS)
    expected = rows(engine, "p1")
    assert engine.lifecycle.offload() == 3
    objects = list((tmp_path / "bucket").rglob("*.parquet"))
    assert len(objects) == 3 and all(o.read_bytes().endswith(b"PARE") for o in objects)
    assert rows(engine, "p1") == expected
    engine.close()


def test_without_the_kek_an_encrypted_project_is_locked_and_others_work(tmp_path: Path, kek: Path) -> None:
    engine = open_with(tmp_path, kek)
    add_projects(engine, "enc", "plain")
    engine.data_keys.enable("enc", CLI_ACTOR)
    add_segment(engine, "enc", "a", 10, now_ms() - DAY_MS)
    add_segment(engine, "plain", "a", 10, now_ms() - DAY_MS)
    engine.close()

    engine = open_with(tmp_path, None)  # no KEK configured: the server still starts
    with pytest.raises(KeyUnavailable, match="project enc is encrypted at rest and no key-encryption key"):
        rows(engine, "enc")
    assert len(rows(engine, "plain")) == 10
    assert engine.data_keys.status("enc") == {
        "enabled": True, "key_available": False, "error": "no key-encryption key is configured",
    }  # fmt: skip
    assert engine.data_keys.status("plain")["enabled"] is False
    engine.close()

    other = new_kek_file(tmp_path / "other")
    engine = open_with(tmp_path, other)  # a wrong KEK is told apart by its fingerprint
    with pytest.raises(KeyUnavailable, match="wrapped by another key-encryption key"):
        rows(engine, "enc")
    assert len(rows(engine, "plain")) == 10
    engine.close()

    engine = open_with(tmp_path, kek)
    assert len(rows(engine, "enc")) == 10
    engine.close()


def test_a_kek_file_inside_the_data_dir_is_refused(tmp_path: Path) -> None:
    inside = new_kek_file(tmp_path / "data" / "keys")
    with pytest.raises(KekError, match="inside the data directory"):
        open_with(tmp_path, inside)
    with pytest.raises(KekError, match="both set"):
        Engine.open(settings_for(tmp_path / "d2", encryption={"kek_file": "/x", "kek_env": "X"}))


def test_a_malformed_kek_locks_encrypted_projects_with_the_reason(tmp_path: Path, kek: Path) -> None:
    engine = open_with(tmp_path, kek)
    add_projects(engine, "enc")
    engine.data_keys.enable("enc", CLI_ACTOR)
    engine.close()
    kek.write_text("not a key")
    engine = open_with(tmp_path, kek)
    with pytest.raises(KeyUnavailable, match="must be 64 hex characters"):
        rows(engine, "enc")
    engine.close()


def test_wrapped_keys_are_bound_to_their_project_and_kek() -> None:
    kek, other = Kek(secrets.token_bytes(32)), Kek(secrets.token_bytes(32))
    data_key = secrets.token_bytes(32)
    blob = kek.wrap(data_key, "p1")
    assert kek.unwrap(blob, "p1") == data_key
    assert kek.fingerprint != other.fingerprint and len(kek.fingerprint) == 16
    with pytest.raises(WrongKek):
        kek.unwrap(blob, "p2")  # copied onto another project
    with pytest.raises(WrongKek):
        other.unwrap(blob, "p1")
    with pytest.raises(WrongKek):
        kek.unwrap(blob[:-1] + bytes([blob[-1] ^ 1]), "p1")


def test_rotating_the_kek_rewraps_keys_without_rewriting_segments(tmp_path: Path, kek: Path) -> None:
    engine = open_with(tmp_path, kek)
    add_projects(engine, "enc")
    engine.data_keys.enable("enc", CLI_ACTOR)
    add_segment(engine, "enc", "a", 10, now_ms() - DAY_MS)
    before = {p: p.read_bytes() for p in files_of(engine, "enc")}
    new = new_kek_file(tmp_path / "new")
    assert engine.data_keys.rewrap(Kek(bytes.fromhex(new.read_text()))) == 1
    engine.close()
    engine = open_with(tmp_path, new)
    assert len(rows(engine, "enc")) == 10
    assert {p: p.read_bytes() for p in files_of(engine, "enc")} == before
    engine.close()

"""Metadata snapshots (`cluster/meta/snapshots/<seq:020d>.db.zst` and `cluster/meta/snapshot.json`): a consistent
copy of the replicated tables, which a joining node loads before the log after it.

`make` copies meta.db with `VACUUM INTO` (one consistent read, never blocking the writer), drops every node-local
table and setting from the copy and compresses it with zstd; the copy's `cluster_meta_seq` is the seq it holds.
`load` makes a node's replicated rows the snapshot's in one transaction (upserts, then deletes of the rows the
snapshot lacks, so node-local columns keep their values and no cascade removes node-local rows). The snapshot is
a SQLite file of the holder's schema version: a node of an older schema refuses it (as it refuses a newer
meta.db). Blocking; run in threads.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import apsw
import zstandard

from lynex_box.cluster.metalog import SEQ_SETTING, discard_captured, read_state, write_state
from lynex_box.cluster.metatables import LOCAL_SETTINGS, REPLICATED, meta_tables, published_columns
from lynex_box.cluster.records import decode, encode, field
from lynex_box.meta.db import MetaDB
from lynex_box.meta.migrations import check_version, schema_version

SNAPSHOTS_PREFIX: Final = "cluster/meta/snapshots"
POINTER_KEY: Final = "cluster/meta/snapshot.json"


def snapshot_key(seq: int) -> str:
    return f"{SNAPSHOTS_PREFIX}/{seq:020d}.db.zst"


@dataclass(frozen=True, slots=True)
class Pointer:
    """`snapshot.json`: the newest snapshot's seq and key."""

    seq: int
    key: str

    def to_bytes(self) -> bytes:
        return encode({"seq": self.seq, "key": self.key})

    @classmethod
    def from_bytes(cls, data: bytes) -> Pointer:
        doc = decode(POINTER_KEY, data)
        return cls(field(doc, POINTER_KEY, "seq", int), field(doc, POINTER_KEY, "key", str))


def make(db: MetaDB, scratch: Path) -> tuple[int, bytes]:
    """(seq, zstd-compressed SQLite file) of the replicated tables as they are now."""
    with tempfile.TemporaryDirectory(dir=scratch, prefix="meta-snapshot-") as tmp:
        path = Path(tmp) / "snapshot.db"
        db.reader().execute("VACUUM INTO ?", (str(path),))
        conn = apsw.Connection(str(path))
        try:
            seq, _ = read_state(conn)
            with conn:
                for table in meta_tables(conn) - set(REPLICATED):
                    conn.execute(f"DROP TABLE {table}")
                marks = ", ".join("?" for _ in LOCAL_SETTINGS)
                conn.execute(f"DELETE FROM instance_settings WHERE key IN ({marks})", tuple(sorted(LOCAL_SETTINGS)))
                conn.execute("INSERT INTO instance_settings (key, value) VALUES (?, ?)", (SEQ_SETTING, str(seq)))
            conn.execute("VACUUM")
        finally:
            conn.close()
        return max(seq, 0), zstandard.ZstdCompressor(level=6).compress(path.read_bytes())


def load(db: MetaDB, data: bytes, scratch: Path) -> int:
    """Replace this node's replicated rows by the snapshot's (one transaction); returns the snapshot's seq, which
    becomes this node's last applied seq. Node-local rows and columns are left alone."""
    with tempfile.TemporaryDirectory(dir=scratch, prefix="meta-snapshot-") as tmp:
        path = Path(tmp) / "snapshot.db"
        path.write_bytes(zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 34))
        snap = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            check_version(schema_version(snap), "the cluster's metadata snapshot")
            seq = int(dict(snap.execute("SELECT key, value FROM instance_settings").fetchall()).get(SEQ_SETTING, 0))
            tables = meta_tables(snap)
            rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
            for table in REPLICATED:
                if table not in tables:
                    continue
                theirs = {r[1] for r in snap.execute(f"PRAGMA table_info({table})")}
                cols = [c for c in published_columns(snap, table) if c in theirs]
                rows[table] = (cols, list(snap.execute(f"SELECT {', '.join(cols)} FROM {table}")))
        finally:
            snap.close()

    def tx(conn: apsw.Connection) -> None:
        conn.execute("PRAGMA defer_foreign_keys = ON")
        for table, (snap_cols, snap_rows) in rows.items():
            spec = REPLICATED[table]
            ours = set(published_columns(conn, table))
            cols = [c for c in snap_cols if c in ours]
            idx = [snap_cols.index(c) for c in cols]
            values = [tuple(r[i] for i in idx) for r in snap_rows]
            if table == "instance_settings":
                values = [v for v in values if v[cols.index("key")] not in LOCAL_SETTINGS]
            if spec.mode == "append" and list(conn.execute(f"SELECT 1 FROM main.{table} LIMIT 1")):
                continue  # appended entries this node holds already (a reload): not twice
            names, marks = ", ".join(cols), ", ".join("?" for _ in cols)
            if spec.mode == "row":  # upserted (node-local columns keep their values), then the rows gone removed
                target = ", ".join(spec.key)
                updates = ", ".join(
                    f"{c} = excluded.{c}" for c in cols if c not in spec.key and c not in spec.local_columns
                )
                action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
                sql = f"INSERT INTO main.{table} ({names}) VALUES ({marks}) ON CONFLICT ({target}) {action}"
                conn.executemany(sql, values)
                keep = {tuple(v[cols.index(k)] for k in spec.key) for v in values}
                key_cols = ", ".join(spec.key)
                gone = [k for k in conn.execute(f"SELECT {key_cols} FROM main.{table}") if tuple(k) not in keep]
                if table == "instance_settings":
                    gone = [k for k in gone if k[0] not in LOCAL_SETTINGS]
                where = " AND ".join(f"{k} = ?" for k in spec.key)
                conn.executemany(f"DELETE FROM main.{table} WHERE {where}", gone)
            else:
                conn.executemany(f"INSERT OR IGNORE INTO main.{table} ({names}) VALUES ({marks})", values)
        write_state(conn, seq)
        discard_captured(conn)  # loading is no write of this node's: nothing to publish

    db.write(tx)
    return seq

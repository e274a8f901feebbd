"""The metadata log's entries (`cluster/meta/log/<seq:020d>.json`): built from a transaction's captured changes on
the holder, applied to a node's meta.db everywhere (docs/format/cluster.md, "Metadata log and snapshots").

An entry is the whole of one write transaction of the holder: `collect` turns the keys the capture triggers
recorded (metatables.py) into changes carrying each row as committed (an upsert) or its key alone (a delete), and
`apply` replays them in one transaction of a follower with foreign keys deferred, so the order of the changes
inside an entry never trips a constraint. Rows go as stored: hashes stay hashes; a BLOB (a wrapped data key, sealed
alert channels) travels as `{"$b64": ...}`. A fence entry (`"fence": true`, no changes) is what a new holder writes
first: an entry of a lower generation after it is ignored by every node. This module does no I/O besides SQLite.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Final

import apsw

from lynex_box.cluster.metatables import CHANGES_TABLE, LOCAL_SETTINGS, REPLICATED, columns, published_columns
from lynex_box.cluster.records import BadRecord, decode, encode, field

LOG_PREFIX: Final = "cluster/meta/log"
SEQ_SETTING: Final = "cluster_meta_seq"
FENCE_SETTING: Final = "cluster_meta_fence"


def log_key(seq: int) -> str:
    return f"{LOG_PREFIX}/{seq:020d}.json"


def seq_of(key: str) -> int | None:
    """The sequence number of a log key, None for anything else under the prefix."""
    name = key.rsplit("/", 1)[-1]
    stem = name.removesuffix(".json")
    return int(stem) if stem != name and len(stem) == 20 and stem.isdigit() else None


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    generation: int
    at: int
    node: str
    changes: list[dict[str, Any]]
    fence: bool = False

    def to_bytes(self) -> bytes:
        fields: dict[str, Any] = {"seq": self.seq, "generation": self.generation, "at": self.at, "node": self.node}
        if self.fence:
            fields["fence"] = True
        fields["changes"] = self.changes
        return encode(fields)

    @classmethod
    def from_bytes(cls, key: str, data: bytes) -> Entry:
        doc = decode(key, data)
        changes = doc.get("changes", [])
        if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
            raise BadRecord(f"{key}: field 'changes' is not a list of objects")
        return cls(
            field(doc, key, "seq", int), field(doc, key, "generation", int), field(doc, key, "at", int),
            field(doc, key, "node", str), changes, doc.get("fence") is True,
        )  # fmt: skip


def _encode_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$b64"}:
        return base64.b64decode(value["$b64"])
    return value


def read_state(conn: apsw.Connection) -> tuple[int, int]:
    """(last applied seq, highest fence generation applied); seq -1 when this node has no copy of the cluster's
    metadata yet (a joining node, or a member of a cluster founded before the log existed)."""
    rows = dict(
        conn.execute(
            "SELECT key, value FROM instance_settings WHERE key IN (?, ?)", (SEQ_SETTING, FENCE_SETTING)
        ).fetchall()
    )
    return int(rows.get(SEQ_SETTING, -1)), int(rows.get(FENCE_SETTING, 0))


def write_state(conn: apsw.Connection, seq: int, fence: int | None = None) -> None:
    values = [(SEQ_SETTING, str(seq))] + ([(FENCE_SETTING, str(fence))] if fence is not None else [])
    conn.executemany(
        "INSERT INTO instance_settings (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        values,
    )


def take_captured(conn: apsw.Connection) -> list[tuple[str, tuple[Any, ...]]]:
    """The (table, key) pairs the capture recorded in this transaction, first occurrence first; cleared."""
    seen: dict[tuple[str, str], None] = {}
    for tbl, key in conn.execute(f"SELECT tbl, key FROM temp.{CHANGES_TABLE} ORDER BY seq"):
        seen.setdefault((tbl, key), None)
    if seen:
        conn.execute(f"DELETE FROM temp.{CHANGES_TABLE}")
    return [(tbl, tuple(json.loads(key))) for tbl, key in seen]


def collect(conn: apsw.Connection, captured: list[tuple[str, tuple[Any, ...]]]) -> list[dict[str, Any]]:
    """The log changes for the captured keys, each row read as it stands at the end of the transaction."""
    changes: list[dict[str, Any]] = []
    for table, key_values in captured:
        spec = REPLICATED[table]
        key = dict(zip(spec.key, key_values, strict=True))
        cols = published_columns(conn, table)
        where = " AND ".join(f"{k} = ?" for k in spec.key)
        rows = list(conn.execute(f"SELECT {', '.join(cols)} FROM main.{table} WHERE {where}", key_values))
        if rows:
            row = {c: _encode_value(v) for c, v in zip(cols, rows[0], strict=True)}
            op = "append" if spec.mode == "append" else "upsert"
            changes.append({"table": table, "op": op, "key": {} if op == "append" else key, "row": row})
        elif spec.mode == "row":
            changes.append({"table": table, "op": "delete", "key": key})
    return changes


def apply(conn: apsw.Connection, changes: list[dict[str, Any]]) -> set[str]:
    """Apply an entry's changes inside the caller's transaction; returns the tables touched. A table or column
    this release does not know (written by a newer one) is skipped: readers ignore what they do not know."""
    conn.execute("PRAGMA defer_foreign_keys = ON")
    known: dict[str, set[str]] = {}
    touched: set[str] = set()
    for change in changes:
        table = change.get("table")
        if table not in REPLICATED:
            continue
        spec = REPLICATED[table]
        if table not in known:
            known[table] = set(columns(conn, table)) - set(spec.private_columns)
        key = change.get("key") or {}
        if table == "instance_settings" and key.get("key", (change.get("row") or {}).get("key")) in LOCAL_SETTINGS:
            continue
        op = change.get("op")
        if op == "delete":
            where = " AND ".join(f"{k} = ?" for k in spec.key)
            conn.execute(f"DELETE FROM main.{table} WHERE {where}", tuple(key[k] for k in spec.key))
        elif op in ("upsert", "append"):
            row = {c: _decode_value(v) for c, v in (change.get("row") or {}).items() if c in known[table]}
            _write_row(conn, table, spec.key, spec.mode, row, spec.local_columns)
        else:
            continue
        touched.add(table)
    discard_captured(conn)  # applying is no write of this node's: nothing to publish
    return touched


def discard_captured(conn: apsw.Connection) -> None:
    """Forget what the capture recorded in this transaction (when the capture is installed)."""
    if list(conn.execute("SELECT 1 FROM temp.sqlite_master WHERE type = 'table' AND name = ?", (CHANGES_TABLE,))):
        conn.execute(f"DELETE FROM temp.{CHANGES_TABLE}")


def _write_row(
    conn: apsw.Connection, table: str, key: tuple[str, ...], mode: str, row: dict[str, Any], local: tuple[str, ...]
) -> None:
    cols = list(row)
    names, marks = ", ".join(cols), ", ".join("?" for _ in cols)
    values = tuple(row[c] for c in cols)
    if mode == "append":
        conn.execute(f"INSERT INTO main.{table} ({names}) VALUES ({marks})", values)
        return
    target = ", ".join(key)
    if mode == "tombstone":  # as a local deletion does: (re)opened, stamped and purged by this node's lifecycle
        conn.execute(
            f"INSERT INTO main.{table} ({names}, wal_lsn) VALUES ({marks}, NULL) "
            f"ON CONFLICT ({target}) DO UPDATE SET wal_lsn = NULL",
            values,
        )
        return
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in key and c not in local)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    conn.execute(f"INSERT INTO main.{table} ({names}) VALUES ({marks}) ON CONFLICT ({target}) {action}", values)

"""The segment catalog: which Parquet files exist, for which project and time, covering which WAL range.

Publishing segments and advancing the consumed WAL position is one transaction that refuses a gap
or an overlap with what was consumed before: that is what makes every acknowledged event land in
exactly one published segment. This module must never change `consumed_lsn` any other way.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import apsw

from lynex_box.meta.db import MetaDB


class CatalogConflict(Exception):
    """A publish whose WAL range does not start right after the consumed position."""


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    """One catalog row (docs/format/segments.md)."""

    id: str
    project_id: str
    path: str
    min_time: int
    max_time: int
    row_count: int
    bytes: int
    level: int = 0
    location: str = "local"
    wal_from: int | None = None
    wal_to: int | None = None
    schema_version: int = 1
    created_at: int = 0
    trace_bloom: builtins.bytes | None = None
    remote_key: str | None = None
    checksum: str | None = None


_COLUMNS = (
    "id, project_id, path, min_time, max_time, row_count, bytes, level, location, "
    "wal_from, wal_to, schema_version, created_at, trace_bloom, remote_key, checksum"
)
_PLACEHOLDERS = ", ".join("?" * len(_COLUMNS.split(",")))


@dataclass(frozen=True, slots=True)
class DeletingEntry:
    """A row in state `deleting`: its files go once the grace period after `deleting_at` is over."""

    id: str
    path: str
    location: str
    remote_key: str | None
    deleting_at: int


def _insert(conn: apsw.Connection, e: SegmentEntry) -> None:
    conn.execute(
        f"INSERT INTO segments ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
        (
            e.id, e.project_id, e.path, e.min_time, e.max_time, e.row_count, e.bytes,
            e.level, e.location, e.wal_from, e.wal_to, e.schema_version, e.created_at,
            e.trace_bloom, e.remote_key, e.checksum,
        ),
    )  # fmt: skip


class Catalog:
    """Catalog operations over a MetaDB."""

    def __init__(self, db: MetaDB) -> None:
        self.db = db

    def consumed_lsn(self) -> int:
        return int(self.db.read("SELECT consumed_lsn FROM wal_progress WHERE id = 1")[0][0])

    def publish(self, entries: list[SegmentEntry], wal_from: int, wal_to: int) -> None:
        """Insert `entries` and set consumed_lsn = wal_to, iff consumed_lsn == wal_from - 1."""
        if wal_to < wal_from - 1:
            raise CatalogConflict(f"empty or inverted WAL range {wal_from}..{wal_to}")

        def tx(conn: apsw.Connection) -> None:
            consumed = int(next(conn.execute("SELECT consumed_lsn FROM wal_progress WHERE id = 1"))[0])
            if wal_from != consumed + 1:
                kind = "gap" if wal_from > consumed + 1 else "overlap"
                raise CatalogConflict(
                    f"publish of WAL {wal_from}..{wal_to} would leave a {kind}: consumed is {consumed}"
                )
            for e in entries:
                _insert(conn, e)
            conn.execute("UPDATE wal_progress SET consumed_lsn = ? WHERE id = 1", (wal_to,))

        self.db.write(tx)

    def segments(self) -> list[SegmentEntry]:
        """Every published segment, oldest first."""
        rows = self.db.read(f"SELECT {_COLUMNS} FROM segments WHERE state = 'published' ORDER BY min_time, id")
        return [SegmentEntry(*row) for row in rows]

    def replace(self, old_ids: list[str], new_entries: list[SegmentEntry], now_us: int) -> None:
        """In one transaction: mark `old_ids` as `deleting` and publish `new_entries`.

        Refuses (CatalogConflict, nothing changed) if any old id is no longer published: another compaction,
        rewrite or offload replaced it first. The WAL position is untouched: the rows move, none arrive.
        """

        def tx(conn: apsw.Connection) -> None:
            for segment_id in old_ids:
                found = list(conn.execute("SELECT state FROM segments WHERE id = ?", (segment_id,)))
                if not found or found[0][0] != "published":
                    raise CatalogConflict(f"segment {segment_id} is no longer published; its replacement is void")
                conn.execute(
                    "UPDATE segments SET state = 'deleting', deleting_at = ? WHERE id = ?", (now_us, segment_id)
                )
            for e in new_entries:
                _insert(conn, e)

        self.db.write(tx)

    def deleting(self) -> list[DeletingEntry]:
        """Rows marked for deletion, oldest mark first."""
        rows = self.db.read(
            "SELECT id, path, location, remote_key, coalesce(deleting_at, 0) FROM segments "
            "WHERE state = 'deleting' ORDER BY deleting_at, id"
        )
        return [DeletingEntry(*row) for row in rows]

    def forget(self, segment_id: str) -> None:
        """Drop a `deleting` row once its files are gone (a published row is never dropped this way)."""
        sql = "DELETE FROM segments WHERE id = ? AND state = 'deleting'"
        self.db.write(lambda conn: conn.execute(sql, (segment_id,)))

    def record_copy(self, segment_id: str, key: str, checksum: str) -> bool:
        """Record that published local segment `segment_id` has a verified copy at bucket `key` (a backup's or
        cluster mode's upload); False when the row is no longer a published local one (replaced meanwhile)."""

        def tx(conn: apsw.Connection) -> bool:
            conn.execute(
                "UPDATE segments SET remote_key = ?, checksum = ? "
                "WHERE id = ? AND state = 'published' AND location = 'local'",
                (key, checksum, segment_id),
            )
            return int(conn.changes()) > 0

        return self.db.write(tx)

    def key_in_use(self, key: str) -> bool:
        """True while a published segment or a kept backup still needs the bucket object `key`."""
        rows = self.db.read(
            "SELECT 1 FROM segments WHERE state = 'published' AND (remote_key = ? OR path = ?) "
            "UNION ALL SELECT 1 FROM backup_objects WHERE key = ? LIMIT 1",
            (key, key, key),
        )
        return bool(rows)

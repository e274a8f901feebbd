"""Scores in meta.db (`scores`): applied from SCORES WAL records by (project, id), listed by trace, span, session or
name.

Scores live in SQLite, not in the span segments, because they are the opposite of spans: few, small, and
mutable — Langfuse updates a score by sending it again with the same id, and a reviewer corrects an
annotation. The segments are append-only columnar files built for millions of immutable rows; SQLite gives the
upsert and the indexes by trace and name. They reach it as every write does, through the WAL: a route appends a
SCORES record and the pipeline applies it here (`apply_batches`), exactly once. Every statement here is scoped
by project id, which the route takes from the API key, never from the score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import apsw

from lynex_box.meta.db import MetaDB
from lynex_box.scores.model import DATA_TYPES, Score

_COLUMNS = (
    "id", "trace_id", "span_id", "session_id", "dataset_run_id", "name", "data_type", "value", "string_value",
    "comment", "source", "metadata", "environment", "config_id", "timestamp",
)  # fmt: skip
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM scores"
log = logging.getLogger("lynex.scores")


@dataclass(frozen=True, slots=True)
class ScoreBatch:
    """The scores of one SCORES record: its LSN, the project that accepted them (`RecordHeader.project_id`) and
    when (`received_us`, which dates the rows, so applying a record again would write the very same rows)."""

    lsn: int
    project_id: str
    received_us: int
    scores: Sequence[Score]


def applied_lsn(db: MetaDB) -> int:
    """The LSN of the last SCORES record applied: the WAL must never hand out an LSN at or below it again."""
    return int(db.read("SELECT scores_applied_lsn FROM wal_progress WHERE id = 1")[0][0])


def forget_applied_after(db: MetaDB, wal_end: int) -> None:
    """Lower the last applied LSN to `wal_end`, the WAL's last record, when it is beyond it (on open, before any
    append). Records past the WAL's end are gone (a tail lost with durability "os", a restored backup) and their
    LSNs go to new records; their scores stay applied. Records up to the end are still skipped."""
    last = applied_lsn(db)
    if last > wal_end:
        log.warning("scores applied past the wal end; new records reuse those lsns applied_lsn=%d wal_end=%d",
                    last, wal_end)  # fmt: skip
        db.write(lambda conn: conn.execute("UPDATE wal_progress SET scores_applied_lsn = ? WHERE id = 1", (wal_end,)))


def apply_batches(db: MetaDB, batches: Sequence[ScoreBatch], outbox: bool = False) -> int:
    """Store the scores of each batch whose record is newer than the last one applied, replacing a score of the same
    (project, id); returns how many batches were applied now (the others had been, before a crash or a retry).

    Exactly once, and why this way: the WAL checkpoint (`consumed_lsn`) moves only when the head is published as
    segments, so after a crash every record since the last publish is replayed, scores included. An upsert by
    (project, id) alone would make a replay harmless only while nothing but SCORES records ever changes the table:
    a score deleted after its record was applied (an erasure, say) would come back.
    So the transaction that stores a record's scores also records its LSN (`wal_progress.scores_applied_lsn`), and
    a replayed record at or below it is skipped: a record's scores are in meta.db if and only if its LSN is,
    whatever the moment of the crash. (A WAL that lost its tail hands out those LSNs again: see
    `forget_applied_after`.)

    A batch SQLite refuses (a constraint: its project no longer exists) is logged and skipped inside its own
    savepoint, since retrying could never store it; any other error (a busy or full disk) rolls the whole
    transaction back and is raised, and the pipeline reads the records again.

    With `outbox` (cluster mode) the same transaction queues each score's key in `scores_outbox`, from which
    cluster/scorelog.py publishes it to the other nodes, and a score replaces one of the same id only when it is
    not older (`updated_at`, the time its record was received): the rule every node applies, so all converge."""
    if not batches:
        return 0

    def write(conn: apsw.Connection) -> int:
        last = int(next(conn.execute("SELECT scores_applied_lsn FROM wal_progress WHERE id = 1"))[0])
        applied = 0
        for batch in batches:
            if batch.lsn <= last:
                continue
            try:
                with conn:  # a savepoint: a refused batch leaves no row behind
                    _upsert(conn, batch.project_id, batch.scores, batch.received_us, newer_only=outbox)
                    if outbox:
                        conn.executemany(
                            "INSERT INTO scores_outbox (project_id, id) VALUES (?, ?)",
                            [(batch.project_id, s.id) for s in batch.scores],
                        )
                applied += 1
            except apsw.ConstraintError as exc:
                log.error(
                    "scores record not applied lsn=%d project=%s scores=%d: %s",
                    batch.lsn, batch.project_id, len(batch.scores), exc,
                )  # fmt: skip
            last = batch.lsn
        conn.execute("UPDATE wal_progress SET scores_applied_lsn = ? WHERE id = 1", (last,))
        return applied

    return db.write(write)


def _upsert_sql(newer_only: bool) -> str:
    names = ", ".join(_COLUMNS)
    marks = ", ".join("?" for _ in _COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "id")
    where = " WHERE excluded.updated_at >= scores.updated_at" if newer_only else ""
    return (
        f"INSERT INTO scores (project_id, {names}, created_at, updated_at) VALUES (?, {marks}, ?, ?) "
        f"ON CONFLICT (project_id, id) DO UPDATE SET {updates}, updated_at = excluded.updated_at{where}"
    )


def _upsert(
    conn: apsw.Connection, project_id: str, scores: Sequence[Score], now: int, newer_only: bool = False
) -> None:
    sql = _upsert_sql(newer_only)
    for s in scores:
        conn.execute(
            sql,
            (project_id, s.id, s.trace_id, s.span_id, s.session_id, s.dataset_run_id, s.name, s.data_type,
             s.value, s.string_value, s.comment, s.source, s.metadata, s.environment, s.config_id,
             s.timestamp_us, now, now),
        )  # fmt: skip


# --- scores across the nodes of a cluster (cluster/scorelog.py moves them through the bucket) ---

ROW_COLUMNS: Final = ("project_id", *_COLUMNS, "created_at", "updated_at")
"""The columns of a score row as a score batch carries it (docs/format/cluster.md, "Scores across nodes")."""
_TEXT_REQUIRED: Final = frozenset({"project_id", "id", "name", "data_type", "source"})
_INTEGERS: Final = frozenset({"timestamp", "created_at", "updated_at"})


class BadScoreRow(ValueError):
    """A score row from the bucket that does not fit the `scores` table."""


def check_row(row: object) -> tuple[Any, ...]:
    """The values of a score row from another node, in `ROW_COLUMNS` order, after checking every column's type;
    raises `BadScoreRow` naming the column. Only the columns of `ROW_COLUMNS` are read: an unknown one is refused,
    so no name from the bucket ever reaches SQL."""
    if not isinstance(row, dict):
        raise BadScoreRow(f"a score row is {type(row).__name__}, not an object")
    unknown = set(row) - set(ROW_COLUMNS)
    if unknown:
        raise BadScoreRow(f"score row has unknown columns {sorted(unknown)}")
    values = []
    for column in ROW_COLUMNS:
        value = row.get(column)
        if column in _INTEGERS:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif column == "value":
            ok = value is None or (isinstance(value, int | float) and not isinstance(value, bool))
        elif column in _TEXT_REQUIRED:
            ok = isinstance(value, str) and value != ""
        else:
            ok = value is None or isinstance(value, str)
        if not ok:
            raise BadScoreRow(f"score row column {column!r} = {value!r:.80} has the wrong type")
        values.append(value)
    if row["data_type"] not in DATA_TYPES:
        raise BadScoreRow(f"score row data_type {row['data_type']!r:.40} is not one of {sorted(DATA_TYPES)}")
    return tuple(values)


def unpublished(db: MetaDB, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """The last outbox seq among the first `limit` queued keys (0: none queued) and the rows they name, as they
    are now (a score updated twice goes once)."""
    names = ", ".join(f"s.{c}" for c in ROW_COLUMNS)

    def read(conn: apsw.Connection) -> tuple[int, list[dict[str, Any]]]:
        keys = conn.execute("SELECT seq, project_id, id FROM scores_outbox ORDER BY seq LIMIT ?", (limit,)).fetchall()
        if not keys:
            return 0, []
        upto = int(keys[-1][0])
        rows = conn.execute(
            f"SELECT {names} FROM scores s WHERE (s.project_id, s.id) IN "
            "(SELECT project_id, id FROM scores_outbox WHERE seq <= ?) ORDER BY s.updated_at, s.id",
            (upto,),
        ).fetchall()
        return upto, [dict(zip(ROW_COLUMNS, r, strict=True)) for r in rows]

    conn = db.reader()
    with conn:  # one snapshot: the rows as they were when their keys were read
        return read(conn)


def peer_seqs(db: MetaDB) -> dict[str, int]:
    """The last score batch applied per node id (this node's own: the last it published)."""
    return {str(n): int(s) for n, s in db.read("SELECT node_id, seq FROM scores_peers")}


def queue_unshared(db: MetaDB, node_id: str) -> int:
    """On a node's first start in a cluster (it has never published: no `scores_peers` row of its own), queue every
    score it holds, so those recorded before cluster mode was turned on reach the other nodes too; returns how many.
    Once per data dir: the row written here (seq 0) marks it done."""

    def write(conn: apsw.Connection) -> int:
        if conn.execute("SELECT 1 FROM scores_peers WHERE node_id = ?", (node_id,)).fetchone() is not None:
            return 0
        conn.execute("INSERT INTO scores_outbox (project_id, id) SELECT project_id, id FROM scores ORDER BY rowid")
        _set_peer(conn, node_id, 0)
        return int(next(conn.execute("SELECT count(*) FROM scores_outbox"))[0])

    return db.write(write)


def mark_published(db: MetaDB, node_id: str, seq: int, upto: int) -> None:
    """Batch `seq` of this node holds the outbox up to `upto`: both forgotten in one transaction."""

    def write(conn: apsw.Connection) -> None:
        conn.execute("DELETE FROM scores_outbox WHERE seq <= ?", (upto,))
        _set_peer(conn, node_id, seq)

    db.write(write)


def note_published(db: MetaDB, node_id: str, seq: int) -> None:
    """This node's batch `seq` is in the bucket already (written before a crash lost the record of it)."""
    db.write(lambda conn: _set_peer(conn, node_id, seq))


def apply_shared(db: MetaDB, node_id: str, seq: int, rows: Sequence[tuple[Any, ...]]) -> bool:
    """Apply batch `seq` of node `node_id` (rows checked by `check_row`) in one transaction with its position;
    False when it was applied already. A row replaces a score of the same (project, id) only when it is not
    older (`updated_at`): the order batches of different nodes arrive in does not matter. A row whose project this
    node does not know (yet: the metadata log is behind) raises `apsw.ConstraintError`, and nothing is applied."""
    sql = _upsert_sql(newer_only=True)

    def write(conn: apsw.Connection) -> bool:
        found = conn.execute("SELECT seq FROM scores_peers WHERE node_id = ?", (node_id,)).fetchone()
        if found is not None and int(found[0]) >= seq:
            return False
        conn.executemany(sql, rows)
        _set_peer(conn, node_id, seq)
        return True

    return db.write(write)


def _set_peer(conn: apsw.Connection, node_id: str, seq: int) -> None:
    conn.execute(
        "INSERT INTO scores_peers (node_id, seq) VALUES (?, ?) ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq",
        (node_id, seq),
    )


def _score(row: tuple[Any, ...]) -> Score:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["timestamp_us"] = values.pop("timestamp")
    return Score(**values)


@dataclass(frozen=True, slots=True)
class ScoreFilter:
    trace_id: str | None = None
    span_id: str | None = None
    session_id: str | None = None
    name: str | None = None


def list_scores(
    db: MetaDB, project_id: str, where: ScoreFilter, limit: int, before: tuple[int, str] | None = None
) -> list[Score]:
    """Newest first; `before` = (timestamp µs, id) of the last score of the previous page."""
    conds = ["project_id = ?"]
    params: list[Any] = [project_id]
    for column in ("trace_id", "span_id", "session_id", "name"):
        value = getattr(where, column)
        if value is not None:
            conds.append(f"{column} = ?")  # a column from the tuple above, never from the client
            params.append(value)
    if before is not None:
        conds.append("(timestamp < ? OR (timestamp = ? AND id < ?))")
        params.extend((before[0], before[0], before[1]))
    params.append(limit)
    rows = db.read(f"{_SELECT} WHERE {' AND '.join(conds)} ORDER BY timestamp DESC, id DESC LIMIT ?", tuple(params))
    return [_score(r) for r in rows]


def scores_for_trace(db: MetaDB, project_id: str, trace_id: str) -> list[Score]:
    """Every score of one trace (its spans' included), oldest first, as a trace view shows them."""
    rows = db.read(f"{_SELECT} WHERE project_id = ? AND trace_id = ? ORDER BY timestamp, id", (project_id, trace_id))
    return [_score(r) for r in rows]


SCORE_OPS: Final = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True, slots=True)
class ScoreCondition:
    """A score named `name` that compares to `value` by `op` (a key of SCORE_OPS): its numeric value when `number`
    is set (and the score has one), else its string value (eq and ne only)."""

    name: str
    op: str
    value: str
    number: float | None = None


def traces_scored(db: MetaDB, project_id: str, conditions: Sequence[ScoreCondition]) -> set[str]:
    """The traces of the project that have a score meeting each condition (a trace-level or a span's score)."""
    found: set[str] | None = None
    for c in conditions:
        op = SCORE_OPS[c.op]  # an operator from the table above, never from the client
        if c.number is not None:
            compare = f"(value {op} ? OR (value IS NULL AND string_value {op} ?))"
            args: tuple[Any, ...] = (c.number, c.value)
        else:
            compare = f"string_value {op} ?"
            args = (c.value,)
        rows = db.read(
            f"SELECT DISTINCT trace_id FROM scores WHERE project_id = ? AND name = ? AND trace_id IS NOT NULL"
            f" AND {compare}",
            (project_id, c.name, *args),
        )
        ids = {str(r[0]) for r in rows}
        found = ids if found is None else found & ids
    return found or set()


class ScoreReader:
    """Scores as the read routes ask for them (blocking SQLite reads: call in a worker thread)."""

    def __init__(self, db: MetaDB) -> None:
        self._db = db

    def page(
        self, project_id: str, where: ScoreFilter, limit: int, before: tuple[int, str] | None = None
    ) -> list[Score]:
        """Newest first; `before` = (timestamp µs, id) of the last score of the previous page."""
        return list_scores(self._db, project_id, where, limit, before)

    def traces_scored(self, project_id: str, conditions: Sequence[ScoreCondition]) -> set[str]:
        """The traces with a score meeting every condition."""
        return traces_scored(self._db, project_id, conditions)

    def of_trace(self, project_id: str, trace_id: str) -> list[Score]:
        """Every score of one trace (its spans' included), oldest first."""
        return scores_for_trace(self._db, project_id, trace_id)

"""`ScoreLog`: scores recorded on one node seen on every node (docs/format/cluster.md, "Scores across nodes").

Scores reach a node's meta.db through its own WAL (scores/applier.py), so without this a score posted to one node
is seen by that node only. In cluster mode the applier also queues each applied score's key in `scores_outbox`, in
the transaction that applies it; `publish` turns the queue into batches of this node's single-writer log,
`cluster/scores/<node_id>/<seq:020d>.json`, each written create-only with the next seq, then forgets the queued
keys and records the seq in one transaction (`scores_peers`, this node's own row). A crash between the write and
that transaction leaves the keys queued: the next process finds its seq taken (the create-only write is refused),
steps past it and writes the rows again. Applying is idempotent, so a row twice is harmless; a row never lost.
On a data dir's first start in a cluster, `open` queues the scores it already holds (recorded before cluster mode
was turned on).

`poll` reads every other node's log after the last batch this node applied from it (`scores_peers`), one GET of
the next key per node and poll (a missing key ends that node's turn), and applies each batch in one transaction
with its position (scores/store.py `apply_shared`): a row replaces a score of the same (project, id) only when it
is not older by `updated_at`, the rule the applier follows too, so every node ends with the same rows whatever
order the batches came in. The nodes are those with a heartbeat record (`cluster/nodes/`, never removed).

What can go wrong with a batch: one that is not a score batch (not JSON, fields missing, another node's) is logged
and skipped; a row that does not fit the `scores` table is logged and skipped, the rest of its batch applied; a
batch of a newer format, or one whose project this node does not know yet (the metadata log is behind), stops that
node's log here and the next poll tries again. Scores and their positions are node-local tables: the metadata
capture never sees them (cluster/metatables.py). Blocking: the node runs `publish_logged` and `poll_logged` as jobs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final

import apsw

from lynex_box.cluster.records import (
    NODES_PREFIX,
    BadRecord,
    Clock,
    NewerFormat,
    decode,
    encode,
    field,
    wall_clock_us,
)
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectNotFound, ObjectStore, ObjectStoreError, PreconditionFailed
from lynex_box.scores.store import (
    BadScoreRow,
    apply_shared,
    check_row,
    mark_published,
    note_published,
    peer_seqs,
    queue_unshared,
    unpublished,
)

log = logging.getLogger("lynex.cluster.scores")

SCORES_PREFIX: Final = "cluster/scores"
# Scores in one batch at most: a batch stays a small object (a score row is a few hundred bytes), and a publish
# turn writes as many batches as the queue needs.
BATCH_ROWS: Final = 1000


def score_key(node_id: str, seq: int) -> str:
    return f"{SCORES_PREFIX}/{node_id}/{seq:020d}.json"


def parse_batch(key: str, data: bytes, node_id: str, seq: int) -> list[tuple[Any, ...]]:
    """The checked rows of batch `seq` of `node_id`; `BadRecord` when the object is not that batch, `NewerFormat`
    when a newer Lynex Box wrote it. A row that does not fit the table is logged and left out."""
    doc = decode(key, data)
    if field(doc, key, "node_id", str) != node_id or field(doc, key, "seq", int) != seq:
        raise BadRecord(f"{key} holds batch {doc.get('seq')!r} of node {doc.get('node_id')!r}")
    rows = doc.get("rows")
    if not isinstance(rows, list):
        raise BadRecord(f"{key}: field 'rows' is not a list")
    checked = []
    for index, row in enumerate(rows):
        try:
            checked.append(check_row(row))
        except BadScoreRow as exc:
            log.error("score row skipped key=%s row=%d: %s", key, index, exc)
    return checked


class ScoreLog:
    """This node's score log (publish) and its reading of the others' (poll); thread-safe."""

    def __init__(
        self,
        store: ObjectStore,
        db: MetaDB,
        node_id: str,
        incarnation: str,
        fenced: Callable[[], bool] = lambda: False,
        clock: Clock = wall_clock_us,
    ) -> None:
        self.store = store
        self.db = db
        self.node_id = node_id
        self.incarnation = incarnation
        self.fenced = fenced
        self.clock = clock
        self._publish_lock = threading.Lock()
        self._poll_lock = threading.Lock()

    # --- publishing this node's scores ---

    def open(self) -> None:
        """At start: on this data dir's first start in the cluster, queue the scores it recorded before."""
        queued = queue_unshared(self.db, self.node_id)
        if queued:
            log.info("scores recorded before cluster mode queued for the other nodes scores=%d", queued)

    def publish_logged(self) -> int:
        try:
            return self.publish()
        except ObjectStoreError as exc:  # the bucket down, say: the scores stay queued, the next turn tries again
            log.warning("scores not published; they stay queued error=%s", exc)
        except Exception:
            log.exception("scores not published; they stay queued")
        return 0

    def publish(self) -> int:
        """Write the queued scores as batches of this node's log; returns the batches written. Nothing once
        fenced (another process writes as this node)."""
        written = 0
        with self._publish_lock:
            while not self.fenced():
                upto, rows = unpublished(self.db, BATCH_ROWS)
                if upto == 0:
                    break
                seq = peer_seqs(self.db).get(self.node_id, 0)
                if rows:
                    seq = self._put(seq + 1, rows)
                    written += 1
                mark_published(self.db, self.node_id, seq, upto)
        return written

    def _put(self, seq: int, rows: list[dict[str, Any]]) -> int:
        while True:
            body = encode({"node_id": self.node_id, "incarnation": self.incarnation, "seq": seq,
                           "at": self.clock(), "rows": rows})  # fmt: skip
            try:
                self.store.put_if_absent(score_key(self.node_id, seq), body)
                return seq
            except PreconditionFailed:
                # written by this node's previous process, which died before recording it: step past it
                log.warning("score batch already in the bucket; writing the next seq node=%s seq=%d", self.node_id, seq)
                note_published(self.db, self.node_id, seq)
                seq += 1

    # --- applying the other nodes' scores ---

    def poll_logged(self) -> int:
        try:
            return self.poll()
        except ObjectStoreError as exc:  # the bucket down, say: the next poll goes on from the same positions
            log.warning("score logs poll failed error=%s", exc)
        except Exception:
            log.exception("score logs poll failed")
        return 0

    def poll(self) -> int:
        """Apply the batches the other nodes wrote since this node's last look; returns how many."""
        applied = 0
        with self._poll_lock:
            positions = peer_seqs(self.db)
            for node_id in self._nodes():
                if node_id != self.node_id:
                    applied += self._follow(node_id, positions.get(node_id, 0))
        return applied

    def _nodes(self) -> list[str]:
        prefix = NODES_PREFIX + "/"
        names = (meta.key[len(prefix) :].removesuffix(".json") for meta in self.store.list(prefix))
        return sorted(name for name in names if name and "/" not in name)

    def _follow(self, node_id: str, seq: int) -> int:
        applied = 0
        while True:
            key = score_key(node_id, seq + 1)
            try:
                data = self.store.get(key).data
            except ObjectNotFound:
                return applied
            try:
                rows = parse_batch(key, data, node_id, seq + 1)
            except NewerFormat as exc:
                log.error("score log of node %s stops here until this node is upgraded: %s", node_id, exc)
                return applied
            except BadRecord as exc:
                log.error("score batch skipped: %s", exc)
                rows = []
            try:
                apply_shared(self.db, node_id, seq + 1, rows)
            except apsw.ConstraintError as exc:  # a project not known here yet: the metadata log catches up
                log.warning("score batch waits for its project key=%s: %s", key, exc)
                return applied
            seq, applied = seq + 1, applied + 1

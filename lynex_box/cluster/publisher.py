"""`SegmentPublisher`: this node's live segments copied to the bucket and listed in its manifest (step 2).

A pass compares the span store's live segments with those the manifest lists. When they differ (a flush, or a
compaction, retention, offload or deletion rewrite), it uploads each segment that has no verified bucket copy yet
(`segments/<node_id>/<project_id>/<segment_id>.parquet`, read back and checked), records the copy in the catalog,
then writes the whole manifest once, with compare-and-swap on its own last etag: a rewrite replaces its old entries
by the new ones in one write. An object the manifest no longer lists stays until the janitor removes it with its
catalog row after `[lifecycle] grace_period_s`, so a query another node started before the change still reads it.

A bucket error ends the pass and the next one retries: the segments are safe on local disk meanwhile. Nothing is
written once the node is fenced, and a compare-and-swap refused because another process wrote this node's manifest
fences it (a refused write that carries this process's incarnation was its own, whose answer was lost). Passes
never overlap (one lock); they block, so the server runs them in a thread.

Cross-node compaction (docs/format/cluster.md): a segment handed off by `segments/handoff.py`'s rule is listed
`compactable: true` (the manifest is rewritten when one crosses the threshold), and a segment this node merged as
the `compaction` lease holder is listed with what it `replaces` (`note_merged`, kept across restarts by reading it
back from the previous manifest at `open`). The publisher tells the query engine's `SharedSegments` which segments
its live merged ones replace, so this node's queries read each row once too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from lynex_box.cluster.manifest import Manifest, Merged, entry_of
from lynex_box.cluster.records import Clock, ClusterError, manifest_key, wall_clock_us
from lynex_box.meta.catalog import SegmentEntry
from lynex_box.objstore import ObjectNotFound, ObjectStore, ObjectStoreError, PreconditionFailed, PutResult
from lynex_box.query.shared import SharedSegments
from lynex_box.segments.handoff import handed_off

log = logging.getLogger("lynex.cluster.publisher")


class LocalSegments(Protocol):
    """The node's own segments (the span store): which are live, where their files are, and where a bucket copy of
    one is recorded."""

    data_dir: Path

    def segment_entries(self, project_id: str | None = None) -> list[SegmentEntry]: ...

    def record_copy(self, segment_id: str, key: str, checksum: str) -> bool: ...


class Uploader(Protocol):
    """`(project_id, segment_id, local file)` -> `(bucket key, SHA-256)` of a verified copy."""

    def __call__(self, project_id: str, segment_id: str, path: Path) -> tuple[str, str]: ...


class SegmentPublisher:
    def __init__(
        self,
        store: ObjectStore,
        *,
        node_id: str,
        incarnation: str,
        local: LocalSegments,
        upload: Uploader,
        fenced: Callable[[], bool],
        on_fenced: Callable[[str], None],
        clock: Clock = wall_clock_us,
        handoff_after_s: float | None = None,
        shared: SharedSegments | None = None,
    ) -> None:
        self.key = manifest_key(node_id)
        self.handoff_after_s = handoff_after_s
        self._shared = shared
        self._merged: dict[str, Merged] = {}  # this node's merged segments (live or about to be) -> what they replace
        self.node_id = node_id
        self.incarnation = incarnation
        self._store = store
        self._local = local
        self._upload = upload
        self._fenced = fenced
        self._on_fenced = on_fenced
        self._clock = clock
        self._lock = threading.RLock()  # hide() reads the merged segments from within a pass
        self._etag: str | None = None
        self._seq = 0
        self._listed: tuple[frozenset[str], ...] | None = None  # ids, compactable ids, merged ids last written
        self.uploaded = 0  # segments copied to the bucket by this process

    def open(self) -> None:
        """Read this node's manifest as a previous process left it: the next write replaces it by compare-and-swap
        and continues its `seq`."""
        with self._lock:
            try:
                got = self._store.get(self.key)
            except ObjectNotFound:
                return
            previous = Manifest.from_bytes(self.key, got.data)
            self._seq = previous.seq
            self._etag = got.etag
            self._merged = previous.merged(self.key)
            live = {e.id for e in self._local.segment_entries()}
            self._merged = {k: v for k, v in self._merged.items() if k in live}
        self.hide()

    @property
    def listed(self) -> frozenset[str]:
        """The ids of the segments the last manifest written lists."""
        return self._listed[0] if self._listed is not None else frozenset()

    def note_merged(self, segment_id: str, merged: Merged) -> None:
        """`segment_id` (about to be swapped into this node's catalog) is a merge of the `compaction` lease holder
        replacing `merged.replaces`: its entry says so from the next write on."""
        with self._lock:
            self._merged[segment_id] = merged

    def forget_merged(self, segment_id: str) -> None:
        """A merge noted with `note_merged` that was not swapped in after all."""
        with self._lock:
            self._merged.pop(segment_id, None)

    def merged(self) -> dict[str, Merged]:
        """This node's live merged segments and what each replaces."""
        live = {e.id for e in self._local.segment_entries()}
        with self._lock:
            return {k: v for k, v in self._merged.items() if k in live}

    def hide(self) -> None:
        """Tell the query engine which segments this node's live merged segments replace (no query reads them)."""
        if self._shared is not None:
            self._shared.hide_own({seg: k for k, m in self.merged().items() for _node, seg in m.replaces})

    def publish(self) -> bool:
        """One pass; True when a manifest was written. Uploads and the write may raise `ObjectStoreError`."""
        with self._lock:
            if self._fenced():
                return False
            now = self._clock()
            live = sorted(self._local.segment_entries(), key=lambda e: (e.min_time, e.id))
            ids = frozenset(e.id for e in live)
            compactable = frozenset(e.id for e in live if handed_off(e, now, self.handoff_after_s))
            gone = self.listed - ids  # merged segments that were listed and are gone (rewritten, expired)
            self._merged = {k: v for k, v in self._merged.items() if k not in gone}
            state = (ids, compactable, frozenset(self._merged) & ids)
            if state == self._listed:
                return False  # nothing changed: no request at all
            listed = [
                entry_of(e, *self._copy(e), compactable=e.id in compactable, merged=self._merged.get(e.id))
                for e in live
            ]
            if self._fenced():  # found out during the uploads: the bucket is no longer this process's to write
                return False
            manifest = Manifest(self.node_id, self.incarnation, self._seq + 1, self._clock(), tuple(listed))
            result = self._write(manifest)
            if result is None:
                return False
            self._etag, self._seq, self._listed = result.etag, manifest.seq, state
            log.debug("cluster manifest written seq=%d segments=%d", manifest.seq, len(listed))
            self.hide()
            return True

    def _copy(self, entry: SegmentEntry) -> tuple[str, str]:
        """The bucket key and checksum of a segment's verified copy, uploading it first when it has none."""
        if entry.location == "remote":  # offloaded: the bucket object is the segment
            assert entry.checksum is not None, f"remote segment {entry.id} has no checksum"
            return entry.remote_key or entry.path, entry.checksum
        if entry.remote_key is not None and entry.checksum is not None:  # uploaded before, or by a backup
            return entry.remote_key, entry.checksum
        key, checksum = self._upload(entry.project_id, entry.id, self._local.data_dir / entry.path)
        self._local.record_copy(entry.id, key, checksum)  # False: replaced meanwhile; the next pass lists its successor
        self.uploaded += 1
        return key, checksum

    def _write(self, manifest: Manifest) -> PutResult | None:
        data = manifest.to_bytes()
        try:
            if self._etag is None:
                return self._store.put_if_absent(self.key, data)
            return self._store.put_if_match(self.key, data, self._etag)
        except PreconditionFailed:
            pass
        try:
            got = self._store.get(self.key)
            current = Manifest.from_bytes(self.key, got.data)
        except ObjectNotFound:
            reason = f"node {self.node_id!r}'s manifest was deleted by someone else"
        except ClusterError as exc:
            reason = f"node {self.node_id!r}'s manifest was overwritten by something else ({exc.detail})"
        else:
            if current.incarnation == self.incarnation:  # our own write, whose answer was lost: write on its etag
                return self._store.put_if_match(self.key, data, got.etag)
            reason = f"another process wrote node {self.node_id!r}'s manifest (incarnation {current.incarnation})"
        log.error("cluster manifest not written node_id=%s reason=%s", self.node_id, reason)
        self._on_fenced(reason)
        return None


def publish_logged(publisher: SegmentPublisher) -> bool:
    """A pass that logs its failure instead of raising it (the publisher's thread): the next pass retries."""
    try:
        return publisher.publish()
    except (ObjectStoreError, OSError) as exc:  # the bucket unreachable, a file replaced meanwhile
        log.warning("cluster segments not published yet; retried next pass error=%s", exc)
    except Exception:  # a copy that read back wrong (VerifyFailed), a bug: logged, and the thread goes on
        log.exception("cluster segments not published; retried next pass")
    return False

"""Cross-node compaction (docs/format/cluster.md "Cross-node compaction"): the `compaction` lease holder merges the
segments several nodes handed over, and each owner drops the ones a merge replaced.

In cluster mode every node flushes every few seconds, so each window of a project holds many small segments of
every node. A node hands a flushed segment over once it is `[cluster] compactable_after_s` old (the publisher lists
it `compactable: true`; segments/handoff.py is the rule, and from then on its owner never rewrites it). A turn of
`CrossCompactor` (every `[cluster] compaction_interval_s`, doing nothing without the lease):
1. reads every manifest, and groups the compactable segments no listed merged segment replaces yet, and its own
   small merged segments, by project, `[compaction] window_s` and level (at least `[compaction] min_segments`, at
   most `max_bytes` of input per merge);
2. merges a group into one new segment of its own (lifecycle/cross.py: uploaded under its own prefix and read back
   before any row names it), checks it still holds the lease at the same generation, notes in its manifest entry
   what the segment replaces (`replaces`, `generation`: the other owners' inputs and what its own merged inputs
   replaced) and swaps it into its own catalog, retiring its own inputs;
3. once its manifest lists the new segment, writes one request per other owner, create-only,
   `cluster/replaced/<owner>/<segment_id>.json`.
`ReplacedRequests` runs on every node (every `[cluster] compaction_interval_s`): for each request in its own
folder, it drops the named segments from its catalog (and so from its next manifest; the janitor removes the
files after the grace period) only when the compactor's manifest, as this node last read it, lists the request's
segment as replacing them; then it deletes the request. A request naming segments the owner no longer has, or that the
compactor lists another merged segment for (a later merge of its merged segment; it asks anew), is deleted
unanswered at once; one whose segment is not listed is left for `REQUEST_STALE_S`, then deleted unanswered (its
owner keeps the segments).

Nothing is lost whatever fails: a replaced segment is hidden from queries (query/shared.py) only while a listed
merged segment holds its rows, and an owner drops it only then. A compactor that lost its lease discards its merge
before the swap; one that loses it later has made a complete segment, which stays its own. Blocking; no bucket
error escapes a turn.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from lynex_box.cluster.manifest import Manifest, Merged, node_of
from lynex_box.cluster.publisher import LocalSegments, SegmentPublisher, publish_logged
from lynex_box.cluster.records import (
    MANIFESTS_PREFIX,
    REPLACED_PREFIX,
    Clock,
    ClusterError,
    decode,
    encode,
    field,
    replaced_key,
    wall_clock_us,
)
from lynex_box.config import CompactionSettings
from lynex_box.meta.catalog import CatalogConflict, SegmentEntry
from lynex_box.objstore import ObjectNotFound, ObjectStore, ObjectStoreError, PreconditionFailed
from lynex_box.query.shared import SharedSegments
from lynex_box.segments.encryption import KeyUnavailable

log = logging.getLogger("lynex.cluster.compactor")

JOB: Final = "compaction"
REQUEST_STALE_S: Final = 600.0  # a request whose segment is still not listed after this long is deleted unanswered
US = 1_000_000


class Merge(Protocol):
    """lifecycle/cross.py `merge_shared`, as the lifecycle runs it between its passes."""

    def __call__(
        self, inputs: list[SegmentEntry], own_ids: list[str], before_swap: Callable[[SegmentEntry], bool]
    ) -> SegmentEntry | None: ...


@dataclass(frozen=True, slots=True)
class Request:
    """`cluster/replaced/<owner>/<segment>.json`: `owner`, drop `replaced`; `compactor`'s `segment` holds them."""

    owner: str
    compactor: str
    generation: int
    segment: str
    replaced: tuple[str, ...]
    at: int

    def to_bytes(self) -> bytes:
        return encode(
            {
                "owner": self.owner,
                "compactor": self.compactor,
                "generation": self.generation,
                "segment": self.segment,
                "replaced": list(self.replaced),
                "at": self.at,
            }
        )

    @classmethod
    def from_bytes(cls, key: str, data: bytes) -> Request:
        doc = decode(key, data)
        replaced = field(doc, key, "replaced", list)
        if not all(isinstance(r, str) for r in replaced):
            raise ClusterError(f"{key}: field 'replaced' is not a list of segment ids")
        return cls(
            field(doc, key, "owner", str),
            field(doc, key, "compactor", str),
            field(doc, key, "generation", int),
            field(doc, key, "segment", str),
            tuple(replaced),
            field(doc, key, "at", int),
        )


def read_manifests(store: ObjectStore) -> dict[str, Manifest]:
    """Every node's manifest, by node id (one that cannot be read or parsed is left out, and logged)."""
    out: dict[str, Manifest] = {}
    for meta in store.list(MANIFESTS_PREFIX):
        node = node_of(meta.key)
        if node is None:
            continue
        try:
            out[node] = Manifest.from_bytes(meta.key, store.get(meta.key).data)
        except ObjectNotFound:
            continue
        except ClusterError as exc:
            log.error("cluster manifest unreadable; its segments are not merged node_id=%s error=%s", node, exc)
    return out


def plan(
    compactable: list[tuple[str, SegmentEntry]], settings: CompactionSettings
) -> list[list[tuple[str, SegmentEntry]]]:
    """The merges due: `(node, segment)` lists of one project, window and level, each becoming one segment of the
    next level (merging equal levels keeps the rewrites of a row logarithmic, as local compaction does). Pure."""
    groups: dict[tuple[str, int, int], list[tuple[str, SegmentEntry]]] = defaultdict(list)
    for node, e in compactable:
        groups[(e.project_id, e.min_time // (settings.window_s * US), e.level)].append((node, e))
    merges: list[list[tuple[str, SegmentEntry]]] = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda ne: (ne[1].min_time, ne[1].id))
        if len(group) < settings.min_segments:
            continue
        chunk: list[tuple[str, SegmentEntry]] = []
        size = 0
        for item in group:
            if chunk and size + item[1].bytes > settings.max_bytes:
                merges.append(chunk)
                chunk, size = [], 0
            chunk.append(item)
            size += item[1].bytes
        merges.append(chunk)
    return [m for m in merges if len(m) >= 2]


class CrossCompactor:
    """The `compaction` lease holder's side: one `turn` per `[cluster] compaction_interval_s`."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        node_id: str,
        holds: Callable[[str], int | None],
        publisher: SegmentPublisher,
        merge: Merge,
        settings: CompactionSettings,
        clock: Clock = wall_clock_us,
    ) -> None:
        self._store = store
        self._node_id = node_id
        self._holds = holds
        self._publisher = publisher
        self._merge = merge
        self._settings = settings
        self._clock = clock
        self._asked: set[str] = set()  # request keys written (or found written) by this process
        self.merged = 0  # merges made by this process
        self.requests = 0  # requests written by this process

    def turn(self) -> int:
        """Merge what is due (nothing without the lease); returns how many merges were made."""
        generation = self._holds(JOB)
        if generation is None:
            if self._unasked():  # a merge of this node's (before a restart, or before it lost the lease): ask anyway
                try:
                    self._ask(read_manifests(self._store))
                except (ObjectStoreError, OSError) as exc:
                    log.warning("cluster replaced requests not written yet; retried next turn error=%s", exc)
            return 0
        try:
            manifests = read_manifests(self._store)
            self._ask(manifests)
            done = 0
            for group in plan(self._candidates(manifests), self._settings):
                if self._holds(JOB) != generation:
                    break
                if self._merge_one(group, generation):
                    done += 1
            if done:
                publish_logged(self._publisher)  # the merged segments listed now, so the owners can be asked
                self._ask(read_manifests(self._store))
            return done
        except (ObjectStoreError, OSError) as exc:
            log.warning("cross-node compaction paused; retried next turn error=%s", exc)
            return 0
        except ClusterError as exc:  # a manifest entry not as the format says: nothing merged until it is fixed
            log.error("cross-node compaction paused; retried next turn error=%s", exc)
            return 0

    def _candidates(self, manifests: dict[str, Manifest]) -> list[tuple[str, SegmentEntry]]:
        """Every node's handed-off segments that no listed merged segment replaces yet, and this node's own small
        merged segments (it owns them: merging them again is its own rewrite, refused by its catalog if one of its
        passes replaced one meanwhile)."""
        replaced: set[str] = set()
        for node, manifest in manifests.items():
            replaced.update(manifest.replaced(f"{MANIFESTS_PREFIX}/{node}.json"))
        replaced.update(seg for m in self._publisher.merged().values() for _node, seg in m.replaces)
        out = []
        for node, manifest in sorted(manifests.items()):
            key = f"{MANIFESTS_PREFIX}/{node}.json"
            out += [(node, e) for e in manifest.compactable(key) if e.id not in replaced]
            if node == self._node_id:
                merged = self._publisher.merged()
                out += [
                    (node, e) for e in manifest.remote_entries(key)
                    if e.id in merged and e.bytes < self._settings.small_bytes
                ]  # fmt: skip
        return out

    def _merge_one(self, group: list[tuple[str, SegmentEntry]], generation: int) -> bool:
        own = [e.id for node, e in group if node == self._node_id]
        others = tuple((node, e.id) for node, e in group if node != self._node_id)
        merged = self._publisher.merged()  # own merged inputs: the new segment replaces what they replaced
        others += tuple(r for segment_id in own if segment_id in merged for r in merged[segment_id].replaces)
        noted: list[str] = []

        def before_swap(new: SegmentEntry) -> bool:
            if self._holds(JOB) != generation:  # lost meanwhile: the new holder may be merging the same inputs
                log.info("cross-node merge discarded: the compaction lease was lost generation=%d", generation)
                return False
            if others:
                self._publisher.note_merged(new.id, Merged(generation, others))
                noted.append(new.id)
            return True

        try:
            new = self._merge([e for _node, e in group], own, before_swap)
        except CatalogConflict as exc:  # one of this node's inputs was replaced meanwhile
            log.info("cross-node merge skipped a replaced group error=%s", exc)
            new = None
        except KeyUnavailable as exc:  # an encrypted project whose key this node does not have (yet)
            log.warning("cross-node merge skipped an encrypted project's group error=%s", exc)
            new = None
        except Exception:  # a segment unreadable, its key locked on this node, the bucket down: next turn
            log.exception("cross-node merge failed; retried next turn")
            new = None
        if new is None:
            for segment_id in noted:
                self._publisher.forget_merged(segment_id)
            return False
        self._publisher.hide()  # this node's queries read the merged segment, not its inputs, from now on
        self.merged += 1
        return True

    def _unasked(self) -> bool:
        """Whether a listed merged segment of this node may still owe its owners a request."""
        listed = self._publisher.listed
        return any(
            replaced_key(node, segment_id) not in self._asked
            for segment_id, merged in self._publisher.merged().items()
            if segment_id in listed
            for node, _seg in merged.replaces
        )

    def _ask(self, manifests: dict[str, Manifest]) -> None:
        """A request to each owner that still lists segments a listed merged segment of this node replaces."""
        listed = self._publisher.listed
        for segment_id, merged in self._publisher.merged().items():
            if segment_id not in listed:
                continue  # not in the manifest yet: an owner would not find it
            by_owner: dict[str, list[str]] = defaultdict(list)
            for node, seg in merged.replaces:
                by_owner[node].append(seg)
            for owner, ids in sorted(by_owner.items()):
                key = replaced_key(owner, segment_id)
                still = {e["id"] for e in manifests[owner].segments} if owner in manifests else set()
                if key in self._asked:
                    continue
                if not still & set(ids):  # dropped already (or the owner's manifest is gone): nothing to ask
                    self._asked.add(key)
                    continue
                request = Request(owner, self._node_id, merged.generation, segment_id, tuple(ids), self._clock())
                try:
                    self._store.put_if_absent(key, request.to_bytes())
                    self.requests += 1
                except PreconditionFailed:
                    pass  # written by this node before a restart
                self._asked.add(key)


class ReplacedRequests:
    """Every node's side: drop what the `compaction` lease holder's listed merged segments replace."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        node_id: str,
        shared: SharedSegments,
        local: LocalSegments,
        drop: Callable[[set[str]], int],
        clock: Clock = wall_clock_us,
    ) -> None:
        self._store = store
        self._node_id = node_id
        self._shared = shared
        self._local = local
        self._drop = drop
        self._clock = clock
        self.dropped = 0  # segments dropped by this process

    def turn(self) -> int:
        """Answer the requests in this node's folder; returns how many segments were dropped."""
        try:
            listed = self._store.list(f"{REPLACED_PREFIX}/{self._node_id}/")
        except ObjectStoreError as exc:
            log.warning("cluster replaced requests not listed; retried next turn error=%s", exc.detail)
            return 0
        dropped = 0
        for meta in listed:
            try:
                dropped += self._answer(meta.key, meta.last_modified)
            except (ObjectStoreError, OSError) as exc:
                log.warning("cluster replaced request not answered yet key=%s error=%s", meta.key, exc)
            except CatalogConflict as exc:
                log.info("cluster replaced request retried next turn key=%s error=%s", meta.key, exc)
        self.dropped += dropped
        return dropped

    def _answer(self, key: str, written: dt.datetime) -> int:
        try:
            request = Request.from_bytes(key, self._store.get(key).data)
        except ObjectNotFound:
            return 0
        except ClusterError as exc:
            log.error("cluster replaced request unreadable; deleted key=%s error=%s", key, exc)
            self._store.delete(key)
            return 0
        mine = set(request.replaced) & {e.id for e in self._local.segment_entries()}
        by = {s: self._shared.replacement(request.compactor, s) for s in mine}
        confirmed = {s for s, replacing in by.items() if replacing == request.segment}
        dropped = self._drop(confirmed) if confirmed else 0
        waiting = {s for s, replacing in by.items() if replacing is None}
        if not waiting:  # all dropped now or before, or replaced by a newer merge of the compactor (asked anew)
            self._store.delete(key)
        elif self._clock() / US - written.timestamp() > REQUEST_STALE_S:
            log.warning(
                "cluster replaced request deleted unanswered: its segment is not listed key=%s segment=%s",
                key, request.segment,
            )  # fmt: skip
            self._store.delete(key)
            return dropped
        else:
            return dropped  # the compactor's manifest not read yet (or no longer listing the segment)
        log.info(
            "cluster replaced request answered compactor=%s generation=%d segment=%s dropped=%d",
            request.compactor, request.generation, request.segment, dropped,
        )  # fmt: skip
        return dropped

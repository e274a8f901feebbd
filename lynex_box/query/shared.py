"""`SharedSegments`: the segments the other nodes of a cluster published, as this node's queries read them.

In cluster mode each node lists its live segments in a manifest in the bucket; this node's manifest poller
(`cluster/poller.py`) replaces one node's whole list here whenever that node's manifest changed. The query engine
adds the entries that may hold a query's rows to the remote segments of its snapshot, and reads them through the
bucket cache like offloaded ones. They are never part of this node's catalog or span store, so no lifecycle pass
(compaction, retention, offload, deletion, backup) ever sees, rewrites or deletes another node's segment. Entries are
catalog rows with `location = "remote"` and `path = remote_key =` the object's key.

Cross-node compaction: a segment the `compaction` lease holder merged lists, in its manifest entry, the segments
it `replaces` (other nodes', whose owners drop them later). While such a segment is listed, the segments it
replaces are hidden from every query of this node, its own catalog's included (`hidden`): the merged segment holds
all their rows, so a query counts each row once while an owner has not dropped its entries yet, and never loses
one (a replaced segment is hidden only by a listed segment holding its rows). This node's own merged segments'
replacements come from its publisher (`hide_own`). No I/O here; thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from lynex_box.meta.catalog import SegmentEntry
from lynex_box.segments.store import may_hold


class SharedSegments:
    """Other nodes' published segments, by node and project."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_node: dict[str, dict[str, list[SegmentEntry]]] = {}  # node id -> project id -> entries
        self._replaced: dict[str, dict[str, str]] = {}  # node id -> replaced segment id -> its listed replacement
        self._own: dict[str, str] = {}  # likewise for this node's own merged segments
        self._hidden: frozenset[str] = frozenset()

    def replace(self, node_id: str, entries: Iterable[SegmentEntry], replaced: Mapping[str, str] | None = None) -> None:
        """`node_id`'s live segments are now `entries` (its newest manifest), and only those; `replaced` maps the
        segments its merged ones replace to the merged segment's id."""
        by_project: dict[str, list[SegmentEntry]] = {}
        for entry in entries:
            by_project.setdefault(entry.project_id, []).append(entry)
        with self._lock:
            self._by_node[node_id] = by_project
            self._replaced[node_id] = dict(replaced or {})
            self._rehide()

    def forget(self, node_id: str) -> None:
        """`node_id` has no manifest any more."""
        with self._lock:
            self._by_node.pop(node_id, None)
            self._replaced.pop(node_id, None)
            self._rehide()

    def hide_own(self, replaced: Mapping[str, str]) -> None:
        """The segments this node's own live merged segments replace (replaced id -> merged id), and only those."""
        with self._lock:
            self._own = dict(replaced)
            self._rehide()

    def _rehide(self) -> None:
        hidden = set(self._own)
        for replaced in self._replaced.values():
            hidden.update(replaced)
        self._hidden = frozenset(hidden)

    def hidden(self) -> frozenset[str]:
        """The ids of segments (of any node, this one's too) a listed merged segment replaces: no query reads them."""
        return self._hidden

    def replacement(self, node_id: str, segment_id: str) -> str | None:
        """The id of `node_id`'s listed merged segment that replaces `segment_id`, or None."""
        with self._lock:
            return self._replaced.get(node_id, {}).get(segment_id)

    def nodes(self) -> list[str]:
        with self._lock:
            return sorted(self._by_node)

    def entries(self, project_id: str) -> list[SegmentEntry]:
        """Every other node's segment of the project, but those a listed merged segment replaces."""
        with self._lock:
            hidden = self._hidden
            return [
                e for projects in self._by_node.values() for e in projects.get(project_id, ()) if e.id not in hidden
            ]

    def select(
        self, project_id: str, start_us: int | None = None, end_us: int | None = None, trace_id: str | None = None
    ) -> list[SegmentEntry]:
        """The project's segments that may hold rows in `[start_us, end_us)` and of the trace (as `SpanStore.snapshot`
        picks its own)."""
        return [e for e in self.entries(project_id) if may_hold(e, start_us, end_us, trace_id)]

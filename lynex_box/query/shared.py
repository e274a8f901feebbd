"""`SharedSegments`: the segments the other nodes of a cluster published, as this node's queries read them.

In cluster mode each node lists its live segments in a manifest in the bucket; this node's manifest poller
(`cluster/poller.py`) replaces one node's whole list here whenever that node's manifest changed. The query engine
adds the entries that may hold a query's rows to the remote segments of its snapshot, and reads them through the
bucket cache like offloaded ones. They are never part of this node's catalog or span store, so no lifecycle pass
(compaction, retention, offload, deletion, backup) ever sees, rewrites or deletes another node's segment. Entries are
catalog rows with `location = "remote"` and `path = remote_key =` the object's key. No I/O here; thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from lynex_box.meta.catalog import SegmentEntry
from lynex_box.segments.store import may_hold


class SharedSegments:
    """Other nodes' published segments, by node and project."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_node: dict[str, dict[str, list[SegmentEntry]]] = {}  # node id -> project id -> entries

    def replace(self, node_id: str, entries: Iterable[SegmentEntry]) -> None:
        """`node_id`'s live segments are now `entries` (its newest manifest), and only those."""
        by_project: dict[str, list[SegmentEntry]] = {}
        for entry in entries:
            by_project.setdefault(entry.project_id, []).append(entry)
        with self._lock:
            self._by_node[node_id] = by_project

    def forget(self, node_id: str) -> None:
        """`node_id` has no manifest any more."""
        with self._lock:
            self._by_node.pop(node_id, None)

    def nodes(self) -> list[str]:
        with self._lock:
            return sorted(self._by_node)

    def entries(self, project_id: str) -> list[SegmentEntry]:
        """Every other node's segment of the project."""
        with self._lock:
            return [e for projects in self._by_node.values() for e in projects.get(project_id, ())]

    def select(
        self, project_id: str, start_us: int | None = None, end_us: int | None = None, trace_id: str | None = None
    ) -> list[SegmentEntry]:
        """The project's segments that may hold rows in `[start_us, end_us)` and of the trace (as `SpanStore.snapshot`
        picks its own)."""
        return [e for e in self.entries(project_id) if may_hold(e, start_us, end_us, trace_id)]

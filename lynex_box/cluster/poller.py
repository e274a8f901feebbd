"""`ManifestPoller`: the other nodes' manifests, read every `[cluster] poll_interval_s` into the query engine's
`SharedSegments` (step 2).

A poll lists `cluster/manifests/` (one request: the listing carries each object's etag) and reads only the
manifests whose etag changed since the last poll; each one read replaces that node's whole list of segments, and a
node whose manifest is gone is forgotten. A manifest that cannot be read or is not what the format says keeps its
node's previous list (and is logged): a bad object never hides data already visible. This node's own manifest is
skipped: its segments are in its own catalog. With each node's segments go the segments its merged ones replace
(cross-node compaction), which no query reads while the merged one is listed. Blocking; never raises a bucket
error.
"""

from __future__ import annotations

import logging

from lynex_box.cluster.manifest import Manifest, node_of
from lynex_box.cluster.records import MANIFESTS_PREFIX, ClusterError
from lynex_box.objstore import ObjectNotFound, ObjectStore, ObjectStoreError
from lynex_box.query.shared import SharedSegments

log = logging.getLogger("lynex.cluster.poller")


class ManifestPoller:
    def __init__(self, store: ObjectStore, node_id: str, shared: SharedSegments) -> None:
        self._store = store
        self._node_id = node_id
        self._shared = shared
        self._etags: dict[str, str] = {}  # node id -> etag of the manifest read last

    def poll(self) -> int:
        """One poll; returns how many manifests were read."""
        try:
            listed = self._store.list(MANIFESTS_PREFIX)
        except ObjectStoreError as exc:
            log.warning("cluster manifests not listed; the last ones read stay error=%s", exc.detail)
            return 0
        seen: set[str] = set()
        read = 0
        for meta in listed:
            node = node_of(meta.key)
            if node is None or node == self._node_id:
                continue
            seen.add(node)
            if self._etags.get(node) != meta.etag and self._read(node, meta.key):
                read += 1
        for node in set(self._etags) - seen:
            self._shared.forget(node)
            del self._etags[node]
            log.info("cluster manifest gone node_id=%s", node)
        return read

    def _read(self, node: str, key: str) -> bool:
        try:
            got = self._store.get(key)
        except ObjectNotFound:  # removed since the listing: the next poll forgets the node
            return False
        except ObjectStoreError as exc:
            log.warning("cluster manifest not read; retried next poll node_id=%s error=%s", node, exc.detail)
            return False
        self._etags[node] = got.etag  # read once per version, even when it cannot be used
        try:
            manifest = Manifest.from_bytes(key, got.data)
            entries, replaced = manifest.remote_entries(key), manifest.replaced(key)
        except ClusterError as exc:  # damaged, or of a newer format: the node's previous list stays
            log.error("cluster manifest unreadable node_id=%s error=%s", node, exc)
            return False
        self._shared.replace(node, entries, replaced)
        return True

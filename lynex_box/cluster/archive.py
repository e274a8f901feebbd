"""The bucket as an open archive: which segment objects hold a project's live spans, and SQL that reads them in place.

docs/format/bucket.md ("Reading the bucket directly") is the user's side of this. In cluster mode the manifests
(`cluster/manifests/<node_id>.json`) name exactly the live segments of every node, so reading the keys they list,
rather than a glob over `segments/`, leaves out the objects a rewrite replaced (which may still hold deleted or
expired spans during `[lifecycle] grace_period_s`) and uploads no catalog adopted. The caller adds the newest backup
manifests for a node that publishes none (a single node). Reads only; never writes or deletes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lynex_box.cluster.manifest import Manifest, node_of
from lynex_box.cluster.records import MANIFESTS_PREFIX
from lynex_box.objstore import ObjectNotFound, ObjectStore
from lynex_box.schema.span import parquet_relation

# The appliance's own rule (query/engine.py): among rows of one event_id, the first ingested wins.
DEDUPE = "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ingested_at, span_id) = 1"


@dataclass(frozen=True, slots=True)
class ArchiveObject:
    """One segment object of a project: its key (under the bucket prefix) and what its manifest says of it."""

    key: str
    node_id: str
    project_id: str
    row_count: int
    bytes: int
    min_time: int
    max_time: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def manifest_objects(store: ObjectStore, project_id: str) -> tuple[list[ArchiveObject], list[str]]:
    """The project's live segment objects named by the cluster manifests, sorted by key, and the node ids whose
    manifest was read (empty when the bucket prefix holds no cluster). `BadRecord` or `NewerFormat` for a manifest
    that is not what the format says: a reader must not silently leave a node's data out."""
    objects: list[ArchiveObject] = []
    nodes: list[str] = []
    for meta in store.list(f"{MANIFESTS_PREFIX}/"):
        node = node_of(meta.key)
        if node is None:
            continue
        try:
            manifest = Manifest.from_bytes(meta.key, store.get(meta.key).data)
        except ObjectNotFound:  # removed between the listing and the read: that node is gone
            continue
        nodes.append(node)
        objects.extend(
            ArchiveObject(
                key=str(entry["key"]),
                node_id=node,
                project_id=str(entry["project_id"]),
                row_count=int(entry["row_count"]),
                bytes=int(entry["bytes"]),
                min_time=int(entry["min_time"]),
                max_time=int(entry["max_time"]),
            )
            for entry in manifest.segments
            if entry.get("project_id") == project_id
        )
    return sorted(objects, key=lambda o: o.key), nodes


def object_url(base: str, key: str) -> str:
    """Where a reader finds `key`: `base` is `s3://<bucket>/<prefix>` (or a local copy of the prefix)."""
    return f"{base.rstrip('/')}/{key}"


def duckdb_sql(urls: Sequence[str]) -> str:
    """DuckDB SQL that defines the view `spans` over `urls`: every column of the span schema, one row per event_id
    (the rule the appliance's queries apply). Raises ValueError for no URL (DuckDB refuses an empty list)."""
    if not urls:
        raise ValueError("no segment object to read; hint: the project has no flushed spans in the bucket yet")
    listing = ",\n  ".join("'" + url.replace("'", "''") + "'" for url in urls)
    relation = parquet_relation("[\n  " + listing + "\n]")  # columns newer than every file read as null
    return f"CREATE OR REPLACE VIEW spans AS\nSELECT * FROM {relation}\n{DEDUPE};\n"

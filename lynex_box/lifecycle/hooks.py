"""`QueryHooks`: what the lifecycle gives every query engine of a process, built before them.

The visibility rules (retention and tombstones) and the bucket cache (offloaded segments read through local
copies) are handed to each `QueryEngine` when it is constructed (the one that answers clients and the lifecycle's
scanner), so no query can run without retention and deletions applied, or miss a segment in the bucket. In cluster
mode the registry of the other nodes' segments (`shared`, filled by the cluster node's manifest poller) goes to the
engine that answers clients only: the lifecycle never sees another node's segments. This module only builds them:
it starts no thread and changes no stored file (the cache directory is a copy, emptied on open).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lynex_box.config import Settings
from lynex_box.lifecycle.bucket import open_bucket
from lynex_box.lifecycle.cache import SegmentCache
from lynex_box.lifecycle.visibility import Visibility
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStore, WriteHealth
from lynex_box.query.shared import SharedSegments


@dataclass(frozen=True, slots=True)
class QueryHooks:
    bucket: ObjectStore | None  # None: `[bucket] type = "none"`
    visibility: Visibility  # the query engine's `VisibilityFilter`
    cache: SegmentCache | None  # the query engine's `RemoteFiles`; None without a bucket
    work_dir: Path  # the bucket cache (`segments/`) and the lifecycle's scratch files (`tmp/`)
    shared: SharedSegments | None = None  # cluster mode: the other nodes' segments; None otherwise
    bucket_health: WriteHealth | None = None  # whether writes to the bucket succeed (lifecycle/readonly.py)

    @classmethod
    def open(
        cls, settings: Settings, db: MetaDB, work_dir: Path | None = None, clock: Callable[[], float] = time.time
    ) -> QueryHooks:
        """`work_dir` defaults to `<data>/cache`; a CLI process beside a running server passes one of its own,
        since opening empties the cache."""
        work = work_dir or settings.data_dir / "cache"
        health = WriteHealth() if settings.bucket.type != "none" else None
        bucket = open_bucket(settings.bucket, health=health)
        cache = None if bucket is None else SegmentCache(work / "segments", settings.offload.cache_max_bytes, bucket)
        shared = SharedSegments() if settings.cluster.enabled else None
        return cls(bucket, Visibility(db, settings.retention.days, clock), cache, work, shared, health)

"""Object storage for segments, cluster leases and backups: one small interface, several backends, wrappers.

Import from here: `ObjectStore` and its result types, the errors, `LocalStore`, `MemoryStore`, `S3Store` with
`S3Settings`, the `PrefixedStore`, `RetryingStore` and `MetricsStore` wrappers, and `WatchedStore`, which tells a
`WriteHealth` whether writes succeed. This package must never know what the objects mean (segments, leases,
manifests): that belongs to its callers.
"""

from lynex_box.objstore.base import GetResult, ObjectMeta, ObjectStore, PutResult, validate_key
from lynex_box.objstore.errors import (
    AccessDenied,
    BucketNotFound,
    InvalidKey,
    KeyConflict,
    NotSupported,
    ObjectNotFound,
    ObjectStoreError,
    PreconditionFailed,
    StoreRequestError,
    StoreUnavailable,
)
from lynex_box.objstore.health import WatchedStore, WriteHealth
from lynex_box.objstore.local import LocalStore
from lynex_box.objstore.memory import MemoryStore
from lynex_box.objstore.s3 import S3Settings, S3Store
from lynex_box.objstore.wrappers import MetricsStore, OpCounters, PrefixedStore, RetryingStore, StoreMetrics

__all__ = [
    "AccessDenied",
    "BucketNotFound",
    "GetResult",
    "InvalidKey",
    "KeyConflict",
    "LocalStore",
    "MemoryStore",
    "MetricsStore",
    "NotSupported",
    "ObjectMeta",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "OpCounters",
    "PreconditionFailed",
    "PrefixedStore",
    "PutResult",
    "RetryingStore",
    "S3Settings",
    "S3Store",
    "StoreMetrics",
    "StoreRequestError",
    "StoreUnavailable",
    "WatchedStore",
    "WriteHealth",
    "validate_key",
]

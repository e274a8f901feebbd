"""The bucket: the object store built from `[bucket]`, this node's id, object names, and verified transfers.

Layout (docs/format/bucket.md): `segments/<node_id>/<project_id>/<segment_id>.parquet` and
`backups/<node_id>/<backup_name>/...`. A segment counts as stored in the bucket only after `upload_verified`
read it back with the same size and SHA-256; a download counts only after the same check.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path

import apsw

from lynex_box import fsutil
from lynex_box.config import BucketSettings
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import (
    LocalStore,
    MetricsStore,
    ObjectNotFound,
    ObjectStore,
    RetryingStore,
    S3Settings,
    S3Store,
    StoreMetrics,
    WatchedStore,
    WriteHealth,
)

NODE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NODE_ID_SETTING = "node_id"


class BucketConfigError(ValueError):
    """`[bucket]` cannot be used as written; the message names the key."""


class VerifyFailed(RuntimeError):
    """An object in the bucket differs from the local file it should equal."""


def open_bucket(
    settings: BucketSettings, metrics: StoreMetrics | None = None, health: WriteHealth | None = None
) -> ObjectStore | None:
    """The configured store wrapped with retries and metrics, or None when `type = "none"`; with `health`, every
    write's outcome (after its retries) is told to it (`WatchedStore`)."""
    if settings.type == "none":
        return None
    inner: ObjectStore
    if settings.type == "directory":
        if not settings.directory:
            raise BucketConfigError('[bucket] type = "directory" needs bucket.directory')
        inner = LocalStore(Path(settings.directory))
    else:
        if not settings.bucket:
            raise BucketConfigError('[bucket] type = "s3" needs bucket.bucket (the bucket name)')
        try:
            inner = S3Store(
                S3Settings(
                    bucket=settings.bucket,
                    endpoint=settings.endpoint or None,
                    region=settings.region,
                    prefix=settings.prefix.strip("/"),
                    path_style=settings.path_style,
                    access_key_id=settings.access_key_id or None,
                    secret_access_key=settings.secret_access_key or None,
                    allow_http=settings.allow_http,
                    timeout_s=settings.timeout_s,
                    transfer_timeout_s=settings.transfer_timeout_s,
                    retries=settings.retries,
                )
            )
        except ValueError as exc:
            raise BucketConfigError(f"[bucket]: {exc}") from None
    # S3Store retries each request itself (bucket.retries); the outer wrapper adds one more attempt after a
    # transient failure and resolves an ambiguous conditional write, without multiplying waits during an outage.
    retrying = RetryingStore(MetricsStore(inner, metrics), attempts=2)
    return retrying if health is None else WatchedStore(retrying, health)


def node_id(settings: BucketSettings, db: MetaDB) -> str:
    """`[bucket] node_id`, or the id generated on first use and kept in meta.db (restored with a backup)."""
    if settings.node_id:
        if not NODE_ID_RE.match(settings.node_id):
            raise BucketConfigError(f"bucket.node_id = {settings.node_id!r} must match {NODE_ID_RE.pattern}")
        return settings.node_id
    fresh = f"node-{secrets.token_hex(4)}"

    def tx(conn: apsw.Connection) -> str:
        conn.execute(
            "INSERT INTO instance_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (NODE_ID_SETTING, fresh),
        )
        rows = list(conn.execute("SELECT value FROM instance_settings WHERE key = ?", (NODE_ID_SETTING,)))
        return str(rows[0][0])

    return db.write(tx)


def segment_key(node: str, project_id: str, segment_id: str) -> str:
    return f"segments/{node}/{project_id}/{segment_id}.parquet"


class SegmentUploader:
    """Copies this node's segments to the bucket as cluster mode publishes them: `(project_id, segment_id, path)`
    -> `(key, checksum)`, the object under `segment_key` read back and checked (`upload_verified`)."""

    def __init__(self, bucket: ObjectStore, node: str, scratch: Path) -> None:
        self.bucket = bucket
        self.node = node
        self.scratch = scratch

    def __call__(self, project_id: str, segment_id: str, path: Path) -> tuple[str, str]:
        key = segment_key(self.node, project_id, segment_id)
        return key, upload_verified(self.bucket, key, path, self.scratch)


def backup_prefix(node: str) -> str:
    return f"backups/{node}"


def upload_verified(bucket: ObjectStore, key: str, path: Path, scratch: Path) -> str:
    """Upload `path` to `key`, then read it back and compare size and SHA-256; returns the checksum."""
    size = path.stat().st_size
    checksum = file_sha256(path)
    bucket.put_file(key, path)
    meta = bucket.head(key)
    if meta.size != size:
        raise VerifyFailed(f"object {key} has {meta.size} bytes after upload, the file {size}; hint: retried later")
    fsutil.make_dir(scratch)
    back = scratch / f"verify-{secrets.token_hex(6)}.parquet"
    try:
        bucket.get_to_file(key, back)
        if file_sha256(back) != checksum:
            raise VerifyFailed(f"object {key} read back with another checksum than {path}; hint: retried later")
    finally:
        back.unlink(missing_ok=True)
    return checksum


def download_verified(bucket: ObjectStore, key: str, path: Path, size: int, checksum: str | None) -> None:
    """Fetch `key` into `path` (atomically) and check it; on a mismatch the file is removed and VerifyFailed raised."""
    bucket.get_to_file(key, path)
    got = path.stat().st_size
    if got != size or (checksum is not None and file_sha256(path) != checksum):
        path.unlink(missing_ok=True)
        raise VerifyFailed(f"object {key} does not match its catalog row (size {got}, expected {size})")


def has_verified_copy(bucket: ObjectStore, key: str, size: int, checksum: str, scratch: Path) -> bool:
    """Whether `key` holds exactly the bytes the catalog row describes (size, then SHA-256 of a download).

    A copy of the same size is not enough: only an object read back whole with the right checksum may stand in
    for an upload. Bucket errors propagate (the caller retries later); a missing or differing object is False.
    """
    try:
        if bucket.head(key).size != size:
            return False
    except ObjectNotFound:
        return False
    fsutil.make_dir(scratch)
    back = scratch / f"verify-{secrets.token_hex(6)}.parquet"
    try:
        download_verified(bucket, key, back, size, checksum)
        return True
    except (VerifyFailed, ObjectNotFound):
        return False
    finally:
        back.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    """The SHA-256 a segment's catalog row records (`checksum`) and every transfer is checked against."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

"""The object store on S3 and S3-compatible servers (MinIO, R2, Ceph, moto), through obstore.

Conditional writes use `If-None-Match: *` (create) and `If-Match: <etag>` (update). They are sent exactly once,
without obstore's internal retries: a retried conditional PUT whose first attempt was applied would come back as
`PreconditionFailed` and turn a win into a loss. `RetryingStore` retries them and resolves that ambiguity.
Every other request is retried by obstore (`S3Settings.retries`, exponential backoff with jitter).

This module must never log or repr the secret key, and never let an obstore exception escape: every failure
becomes one of `lynex_box.objstore.errors`.
"""

from __future__ import annotations

import builtins
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import obstore
from obstore import exceptions as obx
from obstore.store import S3Store as _ObstoreS3

from lynex_box.fsutil import atomic_write
from lynex_box.objstore._fileio import write_chunks
from lynex_box.objstore.base import (
    GetResult,
    ObjectMeta,
    PutResult,
    check_range,
    join_key,
    validate_key,
    validate_prefix,
)
from lynex_box.objstore.errors import (
    AccessDenied,
    BucketNotFound,
    InvalidKey,
    NotSupported,
    ObjectNotFound,
    ObjectStoreError,
    PreconditionFailed,
    StoreRequestError,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from obstore import GetResult as _RawGet
    from obstore import ObjectMeta as _RawMeta
    from obstore import PutMode

_STATUS = re.compile(r"status code: (\d{3})")
_RETRYABLE_4XX = frozenset({408, 409, 429})  # timeout, conditional-write conflict (AWS), throttling
_STREAM_CHUNK = 1 << 20
_MULTIPART_CHUNK = 8 << 20


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Where and how to reach an S3-compatible bucket: the `S3Store`'s constructor arguments, not a section of
    lynex.toml (`lifecycle/bucket.py` builds them from `config.BucketSettings`, the `[bucket]` section).

    - `bucket`: bucket name; it must exist already.
    - `endpoint`: base URL such as `http://127.0.0.1:9000`; None means AWS (or `AWS_ENDPOINT_URL`).
    - `region`: signing region; most S3-compatible servers accept `us-east-1`.
    - `prefix`: key prefix inside the bucket ('' for none), so several deployments can share a bucket.
    - `path_style`: address the bucket as `endpoint/bucket/key` (MinIO, moto, Ceph) instead of
      `bucket.endpoint/key` (AWS default).
    - `access_key_id`, `secret_access_key`, `session_token`: explicit credentials; when None, the standard AWS
      environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, ...) and
      instance credentials are used.
    - `allow_http`: permit a plain-HTTP endpoint (only for a server on a trusted network or loopback).
    - `timeout_s`: connect timeout and stall timeout, the longest wait for any single read from the server.
    - `transfer_timeout_s`: upper bound on one whole request including its body; size it for the largest
      segment on the slowest link.
    - `retries`: how many times obstore retries a failed idempotent request (5xx, network errors, timeouts).
    """

    bucket: str
    endpoint: str | None = None
    region: str = "us-east-1"
    prefix: str = ""
    path_style: bool = True
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    allow_http: bool = False
    timeout_s: float = 10.0
    transfer_timeout_s: float = 600.0
    retries: int = 3

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ValueError("S3Settings.bucket is empty; set [objstore].bucket in lynex.toml")
        if self.prefix:
            validate_key(self.prefix)  # no trailing '/': the store adds the separator itself
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("set both access_key_id and secret_access_key, or neither to use the environment")
        if self.timeout_s <= 0 or self.transfer_timeout_s <= 0:
            raise ValueError("S3Settings timeouts must be positive")
        if self.retries < 0:
            raise ValueError("S3Settings.retries must be >= 0")


def _client(settings: S3Settings, retries: int) -> _ObstoreS3:
    config: dict[str, Any] = {
        "region": settings.region,
        "virtual_hosted_style_request": not settings.path_style,
    }
    if settings.endpoint is not None:
        config["endpoint"] = settings.endpoint
    if settings.access_key_id is not None:
        config["access_key_id"] = settings.access_key_id
        config["secret_access_key"] = settings.secret_access_key
    if settings.session_token is not None:
        config["session_token"] = settings.session_token
    stall = timedelta(seconds=settings.timeout_s)
    transfer = timedelta(seconds=settings.transfer_timeout_s)
    return _ObstoreS3(
        settings.bucket,
        config=config,  # type: ignore[arg-type]
        client_options={
            "allow_http": settings.allow_http,
            "connect_timeout": stall,
            "read_timeout": stall,
            "timeout": transfer,
        },
        retry_config={
            "max_retries": retries,
            "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=5)},
            "retry_timeout": transfer,
        },
    )


def _status(text: str) -> int | None:
    match = _STATUS.search(text)
    return int(match.group(1)) if match else None


def _translate(exc: Exception, key: str, bucket: str) -> ObjectStoreError:
    """Map an obstore (or I/O) exception to our error types. obstore reports most HTTP failures as
    `GenericError`, so the status code is read from its message."""
    text = str(exc)
    first = (text.strip().splitlines() or [type(exc).__name__])[0][:400]
    status = _status(text)
    if "NoSuchBucket" in text:
        return BucketNotFound(f"bucket {bucket!r} does not exist: {first}", key=key)
    if isinstance(exc, FileNotFoundError):
        return ObjectNotFound(f"object not found: {first}", key=key)
    if isinstance(exc, obx.AlreadyExistsError | obx.PreconditionError) or status == 412:
        return PreconditionFailed(f"conditional write lost: {first}", key=key)
    if isinstance(exc, obx.PermissionDeniedError | obx.UnauthenticatedError) or status in (401, 403):
        return AccessDenied(first, key=key)
    if isinstance(exc, obx.InvalidPathError):
        return InvalidKey(first, key=key)
    if isinstance(exc, obx.NotSupportedError) or status == 501:
        return NotSupported(first, key=key)
    if status is not None and 400 <= status < 500 and status not in _RETRYABLE_4XX:
        return StoreRequestError(first, key=key)
    return StoreUnavailable(first, key=key)


class S3Store:
    """An `ObjectStore` on one bucket and prefix of an S3-compatible server."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._prefix = settings.prefix
        self._client = _client(settings, settings.retries)
        self._once = _client(settings, 0)  # for conditional writes, see the module docstring

    def __repr__(self) -> str:
        return f"S3Store(endpoint={self.settings.endpoint!r}, bucket={self.settings.bucket!r}, prefix={self._prefix!r})"

    def _path(self, key: str) -> str:
        return join_key(self._prefix, validate_key(key))

    @contextlib.contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        try:
            yield
        except (obx.BaseError, OSError) as exc:
            raise _translate(exc, key, self.settings.bucket) from exc

    def _put(self, key: str, data: bytes, mode: PutMode) -> PutResult:
        path = self._path(key)
        client = self._client if mode == "overwrite" else self._once
        with self._errors(key):
            result = obstore.put(client, path, data, mode=mode)
        return PutResult(self._etag(key, result["e_tag"]))

    def _etag(self, key: str, etag: str | None) -> str:
        if not etag:
            raise NotSupported("the store returned no ETag", key=key)
        return etag

    def _meta(self, key: str, raw: _RawMeta) -> ObjectMeta:
        return ObjectMeta(key, raw["size"], self._etag(key, raw["e_tag"]), raw["last_modified"])

    def put(self, key: str, data: bytes) -> PutResult:
        return self._put(key, data, "overwrite")

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        return self._put(key, data, "create")

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        try:
            return self._put(key, data, {"e_tag": etag})
        except ObjectNotFound as exc:  # S3 answers 404 to If-Match on a missing object
            raise PreconditionFailed(f"object does not exist, expected etag {etag}", key=key) from exc

    def get(self, key: str) -> GetResult:
        path = self._path(key)
        with self._errors(key):
            result = obstore.get(self._client, path)
            data = bytes(result.bytes())
        return GetResult(data, self._etag(key, result.meta["e_tag"]))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        check_range(start, length)
        path = self._path(key)
        if length == 0:
            self.head(key)  # keep the contract: a missing object is an error even for an empty range
            return b""
        try:
            with self._errors(key):
                return bytes(obstore.get_range(self._client, path, start=start, length=length))
        except StoreRequestError as exc:
            if _status(str(exc.__cause__)) == 416:  # start is at or past the end of an existing object
                return b""
            raise

    def list(self, prefix: str = "") -> builtins.list[ObjectMeta]:
        prefix = validate_prefix(prefix)
        full = join_key(self._prefix, prefix) if prefix else self._prefix
        strip = len(self._prefix) + 1 if self._prefix else 0
        with self._errors(prefix):
            raw = obstore.list(self._client, prefix=full or None).collect()
        found = [self._meta(item["path"][strip:], item) for item in raw]
        found.sort(key=lambda meta: meta.key)
        return found

    def delete(self, key: str) -> None:
        path = self._path(key)
        with self._errors(key):
            obstore.delete(self._client, path)

    def head(self, key: str) -> ObjectMeta:
        path = self._path(key)
        with self._errors(key):
            raw = obstore.head(self._client, path)
        return self._meta(key, raw)

    def get_to_file(self, key: str, path: Path) -> ObjectMeta:
        source = self._path(key)
        with self._errors(key):
            result = obstore.get(self._client, source)
        meta = self._meta(key, result.meta)
        with atomic_write(Path(path)) as target:
            write_chunks(self._body(key, result), target)
        return meta

    def _body(self, key: str, result: _RawGet) -> Iterator[bytes]:
        """The body streams after the headers; only errors raised while reading it are the store's, not
        those of the local file being written."""
        with self._errors(key):
            for chunk in result.stream(min_chunk_size=_STREAM_CHUNK):
                yield bytes(chunk)

    def put_file(self, key: str, path: Path) -> PutResult:
        target = self._path(key)
        Path(path).stat()  # a missing local file is the caller's FileNotFoundError, not ObjectNotFound
        with self._errors(key):
            result = obstore.put(self._client, target, Path(path), chunk_size=_MULTIPART_CHUNK)
        return PutResult(self._etag(key, result["e_tag"]))

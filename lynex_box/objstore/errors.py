"""Errors raised by every object store implementation and wrapper.

Each error names the key (or bucket) it is about and carries a hint for the operator. `transient` tells
`RetryingStore` whether trying again can help. This module must never import a backend library: callers catch
these types without knowing which store is underneath.
"""

from __future__ import annotations

from typing import ClassVar


class ObjectStoreError(Exception):
    """Base class of all object store errors."""

    transient: ClassVar[bool] = False
    default_hint: ClassVar[str] = "check the object store settings and the store's logs"

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None) -> None:
        self.key = key
        self.hint = hint if hint is not None else self.default_hint
        self.detail = message
        where = f" (key={key!r})" if key is not None else ""
        super().__init__(f"{message}{where}; hint: {self.hint}")


class InvalidKey(ObjectStoreError, ValueError):
    """A key or prefix breaks the key rules (see `lynex_box.objstore.base.validate_key`)."""

    default_hint = (
        "keys are '/'-separated, relative, at most 1024 bytes, without empty, '.' or '..' segments "
        "and without control characters; this is a bug in the caller"
    )


class ObjectNotFound(ObjectStoreError):
    """The object does not exist."""

    default_hint = "the object was never written or was deleted; check the key and the store prefix"


class PreconditionFailed(ObjectStoreError):
    """A conditional write lost: the object exists (create) or its etag changed (update)."""

    default_hint = "another writer changed the object first; read it again and decide whether to retry"


class KeyConflict(ObjectStoreError):
    """The local filesystem cannot hold both 'a/b' and 'a/b/c': one would be a file and a directory."""

    default_hint = "LocalStore cannot store a key that is also a prefix of another key; rename one of them"


class BucketNotFound(ObjectStoreError):
    """The configured bucket does not exist."""

    default_hint = "create the bucket or fix [objstore].bucket and the endpoint in lynex.toml"


class AccessDenied(ObjectStoreError):
    """The store refused the credentials or the operation."""

    default_hint = (
        "check the access key, secret and the bucket policy (it must allow Get/Put/Delete/List on the prefix)"
    )


class NotSupported(ObjectStoreError):
    """The store does not implement the operation (often conditional writes on older S3-compatible servers)."""

    default_hint = "use a store that supports If-None-Match/If-Match on PUT, or run without cluster mode"


class StoreRequestError(ObjectStoreError):
    """The store rejected the request for a reason that retrying will not fix."""

    default_hint = "read the detail above; it comes from the store and usually names the wrong setting"


class StoreUnavailable(ObjectStoreError):
    """A network error, timeout, throttling or 5xx answer: trying again later may succeed.

    After this error a write may or may not have been applied.
    """

    transient = True
    default_hint = "check the endpoint, the network and the store's health; the operation can be retried"

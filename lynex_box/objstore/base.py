"""The object store interface shared by the filesystem, memory and S3 backends and their wrappers.

It defines the result types, the `ObjectStore` protocol and the key rules. Every implementation validates keys
with `validate_key` before touching storage. This module must never do I/O or import a backend library.

Contract, checked for every implementation by `tests/objstore/test_contract.py`:
- Keys are '/'-separated paths (see `validate_key`); `list(prefix)` returns the objects *under* the prefix as a
  path, so `list("a")` returns 'a/b' but neither 'a' itself nor 'ab'.
- An etag is opaque: compare it for equality only. It changes when the content changes.
- Writes are atomic: a reader sees the old or the new object, never a partial one.
- The API is synchronous and thread-safe; async callers run it in a thread.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from lynex_box.objstore.errors import InvalidKey

MAX_KEY_BYTES = 1024


@dataclass(frozen=True, slots=True)
class PutResult:
    """What a successful write returns: the etag of the new version."""

    etag: str


@dataclass(frozen=True, slots=True)
class GetResult:
    """An object's content and the etag of that exact version."""

    data: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """An object's key, size in bytes, etag and last modification time (timezone-aware, UTC)."""

    key: str
    size: int
    etag: str
    last_modified: datetime


@runtime_checkable
class ObjectStore(Protocol):
    """A flat namespace of immutable-by-replacement objects (S3 semantics), used from threads."""

    def put(self, key: str, data: bytes) -> PutResult:
        """Write the object, replacing any existing version."""
        ...

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        """Write only if no object exists at key; otherwise raise `PreconditionFailed`."""
        ...

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        """Replace the object only if its current etag is `etag`; otherwise (or if it is missing) raise
        `PreconditionFailed`."""
        ...

    def get(self, key: str) -> GetResult:
        """Read the whole object; raise `ObjectNotFound` if it does not exist."""
        ...

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Read up to `length` bytes from offset `start`; shorter at the end of the object, empty past it."""
        ...

    def list(self, prefix: str = "") -> builtins.list[ObjectMeta]:
        """Return every object under `prefix` (all objects for ""), sorted by key."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing object is not an error."""
        ...

    def head(self, key: str) -> ObjectMeta:
        """Return the object's metadata; raise `ObjectNotFound` if it does not exist."""
        ...

    def get_to_file(self, key: str, path: Path) -> ObjectMeta:
        """Stream the object into `path` (written to a temporary name, fsynced, then renamed) and return the
        metadata of the version written."""
        ...

    def put_file(self, key: str, path: Path) -> PutResult:
        """Stream the local file at `path` into the object, replacing any existing version."""
        ...


def _key_problem(key: object) -> str | None:
    """Return why `key` is not a valid key, or None if it is."""
    if not isinstance(key, str):
        return f"key must be a str, got {type(key).__name__}"
    if not key:
        return "key is empty"
    if len(key.encode("utf-8", errors="surrogatepass")) > MAX_KEY_BYTES:
        return f"key is longer than {MAX_KEY_BYTES} bytes"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        return "key contains a control character (NUL, newline, ...)"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in key):
        return "key contains a lone surrogate and is not valid UTF-8"
    if key.startswith("/"):
        return "key starts with '/'"
    for segment in key.split("/"):
        if segment == "":
            return "key has an empty segment ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"key has a {segment!r} segment"
    return None


def validate_key(key: str) -> str:
    """Return `key` unchanged if it is a valid key, else raise `InvalidKey`.

    A key is a non-empty '/'-separated path of at most 1024 UTF-8 bytes, with no leading '/', no empty, '.' or
    '..' segment and no control character. These rules keep keys portable between a filesystem and S3.
    """
    problem = _key_problem(key)
    if problem is not None:
        raise InvalidKey(problem, key=repr(key) if not isinstance(key, str) else key)
    return key


def validate_prefix(prefix: str) -> str:
    """Normalise a list prefix: "" means everything, one trailing '/' is dropped, the rest must be a valid key."""
    if prefix == "":
        return ""
    trimmed = prefix[:-1] if isinstance(prefix, str) and prefix.endswith("/") else prefix
    if trimmed == "":
        raise InvalidKey("prefix '/' is not allowed; use '' to list everything", key=prefix)
    return validate_key(trimmed)


def is_under(key: str, prefix: str) -> bool:
    """True if `key` lies under the normalised `prefix` as a path ('a/b' is under 'a', 'ab' is not)."""
    return prefix == "" or key.startswith(prefix + "/")


def join_key(prefix: str, key: str) -> str:
    """Join a normalised prefix and a key."""
    return f"{prefix}/{key}" if prefix else key


def check_range(start: int, length: int) -> None:
    """Reject negative offsets and lengths, which no backend can serve."""
    if start < 0 or length < 0:
        raise ValueError(f"get_range needs start >= 0 and length >= 0, got start={start} length={length}")

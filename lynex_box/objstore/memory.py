"""An in-memory object store for tests and single-process experiments.

It follows the same contract as the S3 and filesystem stores, including conditional writes, and its etag is a
content hash like S3's. It must never be used for data that has to survive the process.
"""

from __future__ import annotations

import builtins
import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lynex_box.fsutil import atomic_write
from lynex_box.objstore.base import (
    GetResult,
    ObjectMeta,
    PutResult,
    check_range,
    is_under,
    validate_key,
    validate_prefix,
)
from lynex_box.objstore.errors import ObjectNotFound, PreconditionFailed


@dataclass(frozen=True, slots=True)
class _Entry:
    data: bytes
    etag: str
    last_modified: datetime


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


class MemoryStore:
    """A dict of objects behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, _Entry] = {}

    def _store(self, key: str, data: bytes) -> PutResult:
        # Caller holds self._lock.
        entry = _Entry(bytes(data), _etag(data), datetime.now(UTC))
        self._objects[key] = entry
        return PutResult(entry.etag)

    def _entry(self, key: str) -> _Entry:
        with self._lock:
            entry = self._objects.get(validate_key(key))
        if entry is None:
            raise ObjectNotFound("object not found", key=key)
        return entry

    def put(self, key: str, data: bytes) -> PutResult:
        validate_key(key)
        with self._lock:
            return self._store(key, data)

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        validate_key(key)
        with self._lock:
            if key in self._objects:
                raise PreconditionFailed("object already exists", key=key)
            return self._store(key, data)

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        validate_key(key)
        with self._lock:
            current = self._objects.get(key)
            if current is None:
                raise PreconditionFailed(f"object does not exist, expected etag {etag}", key=key)
            if current.etag != etag:
                raise PreconditionFailed(f"etag is {current.etag}, expected {etag}", key=key)
            return self._store(key, data)

    def get(self, key: str) -> GetResult:
        entry = self._entry(key)
        return GetResult(entry.data, entry.etag)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        check_range(start, length)
        return self._entry(key).data[start : start + length]

    def list(self, prefix: str = "") -> builtins.list[ObjectMeta]:
        prefix = validate_prefix(prefix)
        with self._lock:
            items = [(key, entry) for key, entry in self._objects.items() if is_under(key, prefix)]
        return [
            ObjectMeta(key, len(e.data), e.etag, e.last_modified) for key, e in sorted(items, key=lambda item: item[0])
        ]

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._lock:
            self._objects.pop(key, None)

    def head(self, key: str) -> ObjectMeta:
        entry = self._entry(key)
        return ObjectMeta(key, len(entry.data), entry.etag, entry.last_modified)

    def get_to_file(self, key: str, path: Path) -> ObjectMeta:
        entry = self._entry(key)
        with atomic_write(path) as handle:
            handle.write(entry.data)
        return ObjectMeta(key, len(entry.data), entry.etag, entry.last_modified)

    def put_file(self, key: str, path: Path) -> PutResult:
        validate_key(key)
        with open(path, "rb") as source:
            data = source.read()
        with self._lock:
            return self._store(key, data)

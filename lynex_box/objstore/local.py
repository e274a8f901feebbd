"""An object store on a local (or shared POSIX) filesystem, with the same contract as the S3 store.

Layout under `root`: `objects/<key>` holds the objects, `tmp/` the files being written, `locks/` the lock files.
Every write goes to `tmp/`, is fsynced, then is renamed (or hard-linked, for create-only writes) into place while
holding an `fcntl.flock` lock for the key, so conditional writes are safe between threads and between processes.
The etag is `<inode>-<mtime_ns>-<size>`: each version is a new file created while the old one still exists, so
its inode differs, and its mtime is set past the old one's.

It must never expose a partial object under its key, never write outside `root`, and never hash whole files to
answer `head` or `list`. Limitation: a key cannot also be a prefix of another key ('a/b' and 'a/b/c'), because
one path cannot be both a file and a directory; such a write raises `KeyConflict`.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import hashlib
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

from lynex_box import fsutil
from lynex_box.objstore._fileio import copy_stream, read_exactly
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
    InvalidKey,
    KeyConflict,
    ObjectNotFound,
    ObjectStoreError,
    PreconditionFailed,
    StoreRequestError,
    StoreUnavailable,
)

LOCK_STRIPES = 64
PLACE_ATTEMPTS = 16
_Mode = Literal["overwrite", "absent", "match"]


def _etag(st: os.stat_result) -> str:
    return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"


def _meta(key: str, st: os.stat_result) -> ObjectMeta:
    modified = datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC)
    return ObjectMeta(key, st.st_size, _etag(st), modified)


class LocalStore:
    """Objects as files under `root`; safe for several threads and processes sharing the same root."""

    def __init__(self, root: Path, *, temp_max_age_s: float = 3600.0) -> None:
        """Create the layout if needed and sweep temporary files older than `temp_max_age_s` (left by crashes;
        younger ones may belong to another process still writing)."""
        self.root = Path(root)
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"
        self._locks = self.root / "locks"
        for directory in (self._objects, self._tmp, self._locks):  # private: backups are kept here too
            fsutil.make_dir(directory)
        self.sweep_temp(temp_max_age_s)

    # -- helpers -------------------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self._objects.joinpath(*validate_key(key).split("/"))

    @contextlib.contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """Turn unexpected filesystem errors into store errors that name the key and the root."""
        try:
            yield
        except ObjectStoreError:
            raise
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise InvalidKey("a key segment is too long for the filesystem", key=key) from exc
            hint = f"check free space, permissions and mount health under {self.root}"
            raise StoreRequestError(f"filesystem error: {exc}", key=key, hint=hint) from exc

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive flock for `key`. Keys share 64 striped lock files so that they do not pile up.

        flock locks belong to an open file description, so two threads of one process that each open the lock
        file exclude each other just like two processes do.
        """
        stripe = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % LOCK_STRIPES
        fd = os.open(self._locks / f"{stripe:02d}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the last descriptor releases the lock

    def _stat_object(self, key: str, target: Path) -> os.stat_result | None:
        try:
            st = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            raise KeyConflict("a directory of other keys exists at this key", key=key)
        return st

    def _open(self, key: str) -> tuple[int, os.stat_result]:
        target = self._path(key)
        try:
            fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound("object not found", key=key) from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise ObjectNotFound("object not found (a prefix of other keys)", key=key)
        return fd, st

    def _write_temp(self, fill: Callable[[BinaryIO], object]) -> Path:
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)

    def _make_parents(self, key: str, parent: Path) -> None:
        if parent.is_dir():
            return
        current = self._objects
        for part in key.split("/")[:-1]:
            current = current / part
            try:
                os.mkdir(current, fsutil.DIR_MODE)
            except FileExistsError:
                if not current.is_dir():
                    raise KeyConflict(f"{current.relative_to(self._objects)} is an object", key=key) from None
                continue
            except NotADirectoryError as exc:
                raise KeyConflict("a prefix of this key is an object", key=key) from exc
            fsutil.fsync_dir(current.parent)  # make the new directory entry durable before anything lands in it

    def _place(self, key: str, tmp: Path, target: Path, *, exclusive: bool) -> None:
        for _ in range(PLACE_ATTEMPTS):
            self._make_parents(key, target.parent)
            try:
                if exclusive:
                    os.link(tmp, target)  # fails if the name exists, even for writers that skip our lock
                else:
                    os.replace(tmp, target)
            except FileNotFoundError:
                continue  # a delete of a sibling pruned the empty parent directory; create it again
            except FileExistsError as exc:
                raise PreconditionFailed("object already exists", key=key) from exc
            except IsADirectoryError as exc:
                raise KeyConflict("a directory of other keys exists at this key", key=key) from exc
            fsutil.fsync_dir(target.parent)  # the rename is durable only once the directory is synced
            return
        raise StoreUnavailable("parent directory kept disappearing during the write", key=key)

    def _stamp(self, tmp: Path, current: os.stat_result | None) -> None:
        """Give the new version an mtime after the old one's, so that the etag changes even where the clock
        is coarse or has stepped back."""
        when = time.time_ns()
        if current is not None and when <= current.st_mtime_ns:
            when = current.st_mtime_ns + 1
        os.utime(tmp, ns=(when, when))

    def _commit(self, key: str, tmp: Path, mode: _Mode, etag: str | None = None) -> PutResult:
        target = self._path(key)
        try:
            with self._errors(key), self._lock(key):
                current = self._stat_object(key, target)
                if mode == "absent" and current is not None:
                    raise PreconditionFailed("object already exists", key=key)
                if mode == "match":
                    if current is None:
                        raise PreconditionFailed(f"object does not exist, expected etag {etag}", key=key)
                    if _etag(current) != etag:
                        raise PreconditionFailed(f"etag is {_etag(current)}, expected {etag}", key=key)
                self._stamp(tmp, current)
                self._place(key, tmp, target, exclusive=mode == "absent")
                return PutResult(_etag(os.stat(target)))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # still there after a link or a failed precondition

    def _write(self, key: str, data: bytes, mode: _Mode, etag: str | None = None) -> PutResult:
        validate_key(key)
        with self._errors(key):
            tmp = self._write_temp(lambda handle: handle.write(data))
        return self._commit(key, tmp, mode, etag)

    def _prune(self, directory: Path) -> None:
        """Remove directories left empty by a delete, up to `objects/`; stop at the first non-empty one."""
        while directory != self._objects:
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = directory.parent

    # -- ObjectStore -----------------------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> PutResult:
        return self._write(key, data, "overwrite")

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        return self._write(key, data, "absent")

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        return self._write(key, data, "match", etag)

    def get(self, key: str) -> GetResult:
        with self._errors(key):
            fd, st = self._open(key)
            try:
                data = read_exactly(fd, 0, st.st_size)
            finally:
                os.close(fd)
        return GetResult(data, _etag(st))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        check_range(start, length)
        with self._errors(key):
            fd, _ = self._open(key)
            try:
                return read_exactly(fd, start, length)
            finally:
                os.close(fd)

    def list(self, prefix: str = "") -> builtins.list[ObjectMeta]:
        prefix = validate_prefix(prefix)
        base = self._objects.joinpath(*prefix.split("/")) if prefix else self._objects
        found: builtins.list[ObjectMeta] = []
        pending = [(base, prefix)]
        with self._errors(prefix):
            while pending:
                directory, key_prefix = pending.pop()
                try:
                    with os.scandir(directory) as entries:
                        children = builtins.list(entries)
                except (FileNotFoundError, NotADirectoryError):
                    continue  # removed by a concurrent delete, or the prefix is itself an object
                for entry in children:
                    key = join_key(key_prefix, entry.name)
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((Path(entry.path), key))
                    elif entry.is_file(follow_symlinks=False):
                        try:
                            found.append(_meta(key, entry.stat(follow_symlinks=False)))
                        except FileNotFoundError:
                            continue
        found.sort(key=lambda meta: meta.key)
        return found

    def delete(self, key: str) -> None:
        target = self._path(key)
        with self._errors(key):
            with self._lock(key):
                try:
                    if not stat.S_ISREG(os.stat(target).st_mode):
                        return  # a directory of other keys: there is no object here
                    os.unlink(target)
                except (FileNotFoundError, NotADirectoryError):
                    return
                fsutil.fsync_dir(target.parent)
            self._prune(target.parent)

    def head(self, key: str) -> ObjectMeta:
        target = self._path(key)
        with self._errors(key):
            try:
                st = os.stat(target)
            except (FileNotFoundError, NotADirectoryError) as exc:
                raise ObjectNotFound("object not found", key=key) from exc
        if not stat.S_ISREG(st.st_mode):
            raise ObjectNotFound("object not found (a prefix of other keys)", key=key)
        return _meta(key, st)

    def get_to_file(self, key: str, path: Path) -> ObjectMeta:
        with self._errors(key):
            fd, st = self._open(key)
        # Errors from here on concern the caller's destination, not the store: let them through unchanged.
        with os.fdopen(fd, "rb") as source, fsutil.atomic_write(Path(path)) as target:
            copy_stream(source, target)
        return _meta(key, st)

    def put_file(self, key: str, path: Path) -> PutResult:
        validate_key(key)
        # A missing local file is the caller's FileNotFoundError, so open it before mapping errors.
        with open(path, "rb") as source, self._errors(key):
            tmp = self._write_temp(lambda handle: copy_stream(source, handle))
        return self._commit(key, tmp, "overwrite")

    # -- maintenance -----------------------------------------------------------------------------------------

    def sweep_temp(self, max_age_s: float) -> int:
        """Delete temporary files older than `max_age_s` seconds; return how many were deleted."""
        cutoff = time.time() - max_age_s
        removed = 0
        with os.scandir(self._tmp) as entries:
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

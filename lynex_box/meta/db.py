"""The metadata database: `<data>/meta.db`, SQLite through apsw in WAL mode.

Every write runs on one writer thread, fed by a queue, inside one transaction per call: SQLite has
one writer anyway, and a single thread means no busy-retry storms inside the process. Reads use a
connection per calling thread. Other processes (the CLI while the server runs) may write too; the
busy timeout covers them. This module must never run a write outside a transaction.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import apsw

from lynex_box import fsutil
from lynex_box.meta.migrations import migrate

T = TypeVar("T")
_STOP = object()


def connect(path: Path) -> apsw.Connection:
    conn = apsw.Connection(str(path))
    conn.set_busy_timeout(10_000)
    conn.pragma("journal_mode", "wal")
    conn.pragma("synchronous", "full")
    conn.pragma("foreign_keys", True)
    return conn


class MetaDB:
    """Open with `MetaDB(path)`; `write(fn)` runs `fn(conn)` in a transaction on the writer thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fsutil.make_dir(path.parent)
        if not path.exists():  # SQLite gives meta.db-wal and -shm the database file's mode
            fsutil.create_empty(path)
        self._writer = connect(path)
        try:
            migrate(self._writer, str(path))  # FormatTooNew for a meta.db of a newer release: nothing is changed
        except BaseException:  # a refused or failed migration leaves no open connection behind
            self._writer.close()
            raise
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._local = threading.local()
        self._readers: list[apsw.Connection] = []
        self._readers_lock = threading.Lock()
        self._before_commit: Callable[[apsw.Connection], None] | None = None
        self._thread = threading.Thread(target=self._run, name="meta-writer", daemon=True)
        self._thread.start()

    def set_before_commit(self, fn: Callable[[apsw.Connection], None] | None) -> None:
        """Call `fn(conn)` on the writer thread inside every write transaction, after the write's own function
        and before the commit (cluster mode publishes the transaction's metadata changes there); an exception
        from it rolls the whole transaction back and is raised to the writer's caller. None removes it."""
        self._before_commit = fn

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            fn, future, context = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                with self._writer:  # one transaction: all of fn (and the before-commit hook), or nothing
                    result = fn(self._writer)
                    hook = self._before_commit
                    if hook is not None:  # in the submitter's context: it may tell the request what it wrote
                        context.run(hook, self._writer)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

    def submit(self, fn: Callable[[apsw.Connection], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((fn, future, contextvars.copy_context()))
        return future

    def write(self, fn: Callable[[apsw.Connection], T]) -> T:
        """Run `fn` in one write transaction on the writer thread and return its result."""
        return self.submit(fn).result()

    def reader(self) -> apsw.Connection:
        """This thread's read connection (created on first use)."""
        conn: apsw.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def read(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.reader().execute(sql, params))

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()
        self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

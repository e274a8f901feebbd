"""A durable outbox of deliveries, sent by one thread of the plugin's own with retries and backoff.

The topic hook only writes a delivery here (a JSON file under `<plugin dir>/outbox/`, written atomically) and
returns, so a receiver that is down for an hour neither holds the host's call thread past its timeout nor loses a
day's usage: the file stays until the delivery succeeds, and a restarted server sends what was pending. A failed
attempt that may succeed later (`Retry`) is tried again after `backoff_s`, doubling up to `backoff_max_s`, until
`attempts`; one that cannot (`GiveUp`: a refused address, a 4xx) or the last attempt moves the file to
`<plugin dir>/failed/` with its error, and logs it. Deliveries are at least once: a crash after a send and before
the file's removal sends it again (webhook receivers get a stable `X-Lynex-Delivery`, Stripe an identifier).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("lynex.plugins.usage_export")


class Retry(Exception):
    """This attempt failed; a later one may succeed (a network error, a timeout, 408, 429, 5xx)."""


class GiveUp(Exception):
    """This delivery cannot succeed (a refused address, a 4xx answer, a bad key): it is not retried."""


Send = Callable[[dict[str, Any]], None]


def _write(path: Path, doc: dict[str, Any]) -> None:
    """`doc` at `path`, atomically: a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(orjson.dumps(doc))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Outbox:
    def __init__(
        self,
        root: Path,
        send: Send,
        *,
        attempts: int,
        backoff_s: float,
        backoff_max_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dir = root / "outbox"
        self.failed_dir = root / "failed"
        self._send = send
        self._attempts, self._backoff_s, self._backoff_max_s = attempts, backoff_s, backoff_max_s
        self._clock = clock
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, str]] = []  # (when, order, file name)
        self._order = itertools.count()
        self._keys: dict[str, str] = {}  # a pending delivery's coalescing key -> its file name
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.delivered = self.failed = self.retried = 0
        self.last_error = ""

    def start(self) -> None:
        """Load the deliveries a previous run left, oldest first, and start the sending thread."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.failed_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path in sorted(self.dir.glob("*.json")):
            try:
                doc = orjson.loads(path.read_bytes())
            except orjson.JSONDecodeError as exc:  # not ours or damaged: set aside, never sent
                log.error("usage export set aside a damaged delivery file=%s error=%s", path, exc)
                path.replace(self.failed_dir / path.name)
                continue
            self._queue(path.name, doc, 0.0)
        self._thread = threading.Thread(target=self._run, name="usage-export-outbox", daemon=True)
        self._thread.start()

    def add(self, kind: str, payload: dict[str, Any], key: str | None = None) -> None:
        """Queue one delivery. With `key`, a delivery of that key still pending makes this one unnecessary (the
        pending one builds its content when it is sent, e.g. a day's CSV)."""
        with self._cond:
            if key is not None and key in self._keys:
                return
            name = f"{time.time_ns():020d}-{next(self._order):06d}-{kind}.json"
            doc = {"kind": kind, "key": key, "attempts": 0, "payload": payload}
            _write(self.dir / name, doc)
            self._queue(name, doc, 0.0)
            self._cond.notify()

    def _queue(self, name: str, doc: dict[str, Any], delay_s: float) -> None:
        if doc.get("key") is not None:
            self._keys[str(doc["key"])] = name
        heapq.heappush(self._due, (self._clock() + delay_s, next(self._order), name))

    def pending(self) -> int:
        with self._cond:
            return len(self._due)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)

    def _next(self) -> str | None:
        """The next delivery due, waiting for one; None once stopped."""
        with self._cond:
            while not self._stopped:
                if self._due and self._due[0][0] <= self._clock():
                    name = heapq.heappop(self._due)[2]
                    # a delivery being sent no longer stands for later ones of its key: one added from now on
                    # is queued, so content that changes during this send is sent too
                    for key in [k for k, n in self._keys.items() if n == name]:
                        del self._keys[key]
                    return name
                self._cond.wait(None if not self._due else max(0.01, self._due[0][0] - self._clock()))
            return None

    def _run(self) -> None:
        while (name := self._next()) is not None:
            path = self.dir / name
            try:
                doc = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:  # removed or damaged under us: nothing to send
                log.error("usage export cannot read a delivery file=%s error=%s", path, exc)
                continue
            try:
                self._send(doc)
            except GiveUp as exc:
                self._fail(name, doc, str(exc))
            except Exception as exc:  # Retry, and anything unexpected: tried again until `attempts`
                self._retry(name, doc, f"{type(exc).__name__}: {exc}" if not isinstance(exc, Retry) else str(exc))
            else:
                with self._cond:
                    path.unlink(missing_ok=True)
                    self.delivered += 1

    def _retry(self, name: str, doc: dict[str, Any], error: str) -> None:
        doc["attempts"] = int(doc["attempts"]) + 1
        doc["last_error"] = error
        if doc["attempts"] >= self._attempts:
            self._fail(name, doc, f"{error} (after {doc['attempts']} attempts)")
            return
        delay = min(self._backoff_max_s, self._backoff_s * 2 ** (doc["attempts"] - 1))
        log.warning("usage export retrying kind=%s attempt=%d in_s=%.1f error=%s", doc["kind"], doc["attempts"],
                    delay, error)  # fmt: skip
        with self._cond:
            self.retried += 1
            self.last_error = error
            key = doc.get("key")
            if key is not None and str(key) in self._keys:  # a newer delivery of the key is queued: it replaces this
                (self.dir / name).unlink()
                return
            _write(self.dir / name, doc)
            if key is not None:
                self._keys[str(key)] = name
            heapq.heappush(self._due, (self._clock() + delay, next(self._order), name))

    def _fail(self, name: str, doc: dict[str, Any], error: str) -> None:
        log.error("usage export gave up kind=%s error=%s; hint: the delivery is kept in %s", doc["kind"], error,
                  self.failed_dir / name)  # fmt: skip
        with self._cond:
            _write(self.failed_dir / name, {**doc, "error": error})
            (self.dir / name).unlink(missing_ok=True)
            self.failed += 1
            self.last_error = error

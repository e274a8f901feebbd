"""The lease keeper: holds this node's singleton-job leases, renewing them and taking free ones, tick by tick.

A job asks `holds(job)` before each write and carries the generation it gets in that write; None means stop. The
answer is local and cheap (no store request), so it can be asked on the event loop. A lease counts as held only
until the `expires_at` of its last successful write, by this machine's clock: a node cut off from the store stops
its jobs by then, before any other node (which waits `max_clock_skew_s` longer) can take the lease over.

`tick()` does the store work: renew each held lease once a third of its ttl has passed, and try to take the
others (unless `may_take()` says no, e.g. while the clock is off). It is meant to be called from a scheduled job
in a thread, or from `start()`'s own thread; ticks never overlap. `on_acquired(job, generation)` and
`on_lost(job, generation, reason)` are called from the ticking thread, outside the state lock: keep them short
(set a flag, cancel a task) and never call `tick`, `stop` or `release_all` from them. After `fence()` (another
process writes this node's heartbeat) nothing is written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from lynex_box.cluster.lease import JOBS, Held, Lease
from lynex_box.cluster.records import Clock, ClusterError, wall_clock_us
from lynex_box.objstore import ObjectStore, ObjectStoreError

log = logging.getLogger(__name__)

OnAcquired = Callable[[str, int], None]
OnLost = Callable[[str, int, str], None]


class LeaseKeeper:
    """Keeps the leases of `jobs` for one process (`holder` node id, `incarnation`)."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        holder: str,
        incarnation: str,
        ttl_s: float,
        max_clock_skew_s: float,
        jobs: Iterable[str] = JOBS,
        clock: Clock = wall_clock_us,
        on_acquired: OnAcquired | None = None,
        on_lost: OnLost | None = None,
        may_take: Callable[[], bool] = lambda: True,
    ) -> None:
        self.ttl_s = ttl_s
        self._leases = {
            job: Lease(
                store, job, holder=holder, incarnation=incarnation, ttl_s=ttl_s, max_clock_skew_s=max_clock_skew_s,
                clock=clock,
            )
            for job in jobs
        }  # fmt: skip
        self._renew_after_us = int(ttl_s * 1_000_000 / 3)
        self._clock = clock
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._may_take = may_take
        self._tick_lock = threading.Lock()  # one tick at a time: ticks do the store I/O
        self._state_lock = threading.Lock()  # guards _held only, never held across I/O
        self._held: dict[str, Held] = {}
        self._closed: str | None = None  # why no lease is taken any more: "fenced: ...", "stopped"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holds(self, job: str) -> int | None:
        """The generation this process holds `job` at, or None: then the job must not write."""
        with self._state_lock:
            held = self._held.get(job)
        if held is None or not held.record.live(self._clock()):
            return None
        return held.generation

    def held_jobs(self) -> list[str]:
        """The jobs whose lease this process holds now (for the heartbeat's `leases`)."""
        now = self._clock()
        with self._state_lock:
            return sorted(job for job, held in self._held.items() if held.record.live(now))

    def tick(self) -> None:
        """One pass: renew the leases that are due, take the free ones."""
        with self._tick_lock:
            for job, lease in self._leases.items():
                if self._closed is not None:
                    return
                with self._state_lock:
                    held = self._held.get(job)
                if held is None:
                    self._try_take(job, lease)
                else:
                    self._keep(job, lease, held)

    def _try_take(self, job: str, lease: Lease) -> None:
        if not self._may_take():
            return
        try:
            held = lease.take()
        except (ObjectStoreError, ClusterError) as exc:  # a record of a newer format is left alone too
            log.warning("cluster lease not taken job=%s error=%s", job, exc)
            return
        if held is None:
            return
        with self._state_lock:
            if self._closed is not None:  # fenced while the write was in flight: the lease is not ours to use
                return
            self._held[job] = held
        log.info("cluster lease acquired job=%s generation=%d", job, held.generation)
        if self._on_acquired is not None:
            self._on_acquired(job, held.generation)

    def _keep(self, job: str, lease: Lease, held: Held) -> None:
        now = self._clock()
        if not held.record.live(now):
            self._lose(job, held, "it expired before a renewal succeeded (the store was unreachable)")
            return
        if now < held.record.expires_at - lease.ttl_us + self._renew_after_us:
            return
        try:
            renewed = lease.renew(held)
        except ClusterError as exc:  # LeaseLost, or a record someone else wrote that this node cannot read
            self._lose(job, held, exc.detail)
            return
        except ObjectStoreError as exc:  # kept until it expires: the next tick tries again
            log.warning("cluster lease not renewed job=%s generation=%d error=%s", job, held.generation, exc.detail)
            return
        with self._state_lock:
            if self._closed is None:
                self._held[job] = renewed

    def _lose(self, job: str, held: Held, reason: str) -> None:
        with self._state_lock:
            self._held.pop(job, None)
        log.warning("cluster lease lost job=%s generation=%d reason=%s", job, held.generation, reason)
        if self._on_lost is not None:
            self._on_lost(job, held.generation, reason)

    def confirm(self, job: str, generation: int) -> bool:
        """Renew `job`'s lease now (blocking: one conditional write) and say whether this process still holds it
        at `generation`. A job calls it after a write it must not act on unless the lease outlived that write (an
        alert state write, before delivering): a renewal that succeeds after the write proves no other node had
        taken the lease when the write landed."""
        with self._tick_lock:
            with self._state_lock:
                held = self._held.get(job)
            if self._closed is not None or held is None or held.generation != generation:
                return False
            if not held.record.live(self._clock()):
                self._lose(job, held, "it expired before a renewal succeeded (the store was unreachable)")
                return False
            try:
                renewed = self._leases[job].renew(held)
            except ClusterError as exc:
                self._lose(job, held, exc.detail)
                return False
            except ObjectStoreError as exc:  # not proven: the caller does not act; the next tick tries again
                log.warning("cluster lease not confirmed job=%s generation=%d error=%s", job, generation, exc.detail)
                return False
            with self._state_lock:
                if self._closed is not None:
                    return False
                self._held[job] = renewed
            return True

    def fence(self, reason: str) -> None:
        """Another process writes this node's heartbeat: drop every lease at once, without writing (the bucket
        is no longer ours to write), and take none again. Safe to call from any thread, even during a tick."""
        self._closed = f"fenced: {reason}"
        with self._state_lock:
            dropped = list(self._held.items())
            self._held.clear()
        for job, held in dropped:
            log.warning("cluster lease dropped job=%s generation=%d reason=fenced", job, held.generation)
            if self._on_lost is not None:
                self._on_lost(job, held.generation, f"fenced: {reason}")

    def release_all(self) -> None:
        """On a clean stop: give every held lease up so other nodes take them at their next try."""
        with self._tick_lock:
            if self._closed is None:
                self._closed = "stopped"
            with self._state_lock:
                held = list(self._held.items())
                self._held.clear()
            if self._closed.startswith("fenced"):
                return
            for job, lease_held in held:
                try:
                    self._leases[job].release(lease_held)
                except ObjectStoreError as exc:  # it expires on its own after ttl_s
                    log.warning("cluster lease not released job=%s error=%s", job, exc.detail)

    def start(self, interval_s: float | None = None) -> None:
        """Tick in a thread of its own every `interval_s` (default: a sixth of the ttl) until `stop()`."""
        if self._thread is not None:
            raise RuntimeError("LeaseKeeper.start called twice")
        every = interval_s if interval_s is not None else self.ttl_s / 6

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception:  # a bug in a callback must not stop the renewals of the other leases
                    log.exception("cluster lease keeper tick failed")
                self._stop.wait(every)

        self._thread = threading.Thread(target=run, name="cluster-leases", daemon=True)
        self._thread.start()

    def stop(self, *, release: bool = True) -> None:
        """Stop the thread (if started) and release the leases (unless `release=False`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if release:
            self.release_all()
            return
        with self._tick_lock:
            if self._closed is None:
                self._closed = "stopped"
            with self._state_lock:
                self._held.clear()

"""One contender of the lease race (tests/cluster/test_lease_race.py), run in a thread or in a process of its own.

Each round: wait for every contender, try to take the lease, wait again (so nobody tries after the winner let go),
and the winner gives the lease back, every fourth round by deleting it so the next round races on the create-only
write rather than on the compare-and-swap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from lynex_box.cluster import Lease
from lynex_box.objstore import MetricsStore, ObjectStore, S3Settings, S3Store, StoreMetrics

BARRIER_TIMEOUT_S = 60.0


class Barrier(Protocol):
    def wait(self, timeout: float | None = None) -> Any: ...


def contend(
    store: ObjectStore, holder: str, rounds: int, barrier: Barrier, report: Callable[[int, int | None], None]
) -> None:
    lease = Lease(store, "alerts", holder=holder, incarnation=f"inc-{holder}", ttl_s=30.0, max_clock_skew_s=2.0)
    for number in range(rounds):
        barrier.wait(BARRIER_TIMEOUT_S)
        held = lease.take()
        report(number, held.generation if held is not None else None)
        barrier.wait(BARRIER_TIMEOUT_S)
        if held is None:
            continue
        if number % 4 == 3:
            store.delete(lease.key)
        else:
            lease.release(held)


def conflicts(metrics: StoreMetrics) -> int:
    """Conditional writes this contender lost to the other one's write."""
    kinds = metrics.errors_by_kind
    return kinds.get("put_if_absent:PreconditionFailed", 0) + kinds.get("put_if_match:PreconditionFailed", 0)


def process_main(settings: S3Settings, holder: str, rounds: int, barrier: Barrier, results: Any) -> None:
    """A contender in a process of its own, with its own S3 client; reports (holder, round, generation) rows and
    finally (holder, -1, conflicts)."""
    metrics = StoreMetrics()
    store = MetricsStore(S3Store(settings), metrics)
    rows: list[tuple[str, int, int | None]] = []
    contend(store, holder, rounds, barrier, lambda number, generation: rows.append((holder, number, generation)))
    results.put((rows, conflicts(metrics)))

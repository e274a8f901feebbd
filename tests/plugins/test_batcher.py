"""The plugins' Batcher on its own: batches close by count, bytes and delay; a retryable failure is tried again with
backoff and a permanent one is not; a full queue drops its oldest items and counts them; a close sends what waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from lynex_box.plugins.batcher import Batcher, BatchLimits, PluginConfigError, batch_limits


class Permanent(Exception):
    retryable = False


def _until(check: Callable[[], Any], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_batches_close_by_count_then_bytes_then_delay() -> None:
    got: list[list[bytes]] = []
    b: Batcher[bytes] = Batcher("t", got.append, BatchLimits(max_items=3, max_bytes=10, max_delay_s=0.3), size_of=len)
    b.add([b"a", b"b", b"c", b"d"])  # 3 by count at once; "d" waits for the delay
    _until(lambda: len(got) == 1)
    assert got[0] == [b"a", b"b", b"c"]
    b.add([b"123456", b"7890123"])  # 1 + 6 + 7 bytes: over 10, "d" and the first go, the second waits
    _until(lambda: len(got) == 2)
    assert got[1] == [b"d", b"123456"]
    started = time.monotonic()
    _until(lambda: len(got) == 3)
    assert got[2] == [b"7890123"] and time.monotonic() - started >= 0.2
    b.close()
    assert b.counters()["sent"] == 6 and b.counters()["batches"] == 3


def test_retryable_failures_back_off_and_permanent_ones_do_not() -> None:
    calls: list[float] = []

    def flaky(batch: list[int]) -> None:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RuntimeError("503")

    b: Batcher[int] = Batcher("t", flaky, BatchLimits(max_delay_s=0.01, retries=3, backoff_s=0.05))
    b.add([1, 2])
    _until(lambda: b.counters()["sent"] == 2)
    assert b.counters()["retried"] == 2
    assert calls[1] - calls[0] >= 0.04 and calls[2] - calls[1] >= 0.09  # 0.05 s, then doubled
    n = [0]

    def refused(batch: list[int]) -> None:
        n[0] += 1
        raise Permanent("403")

    p: Batcher[int] = Batcher("t", refused, BatchLimits(max_delay_s=0.01, retries=5, backoff_s=0.01))
    p.add([1])
    _until(lambda: p.counters()["failed"] == 1)
    assert n[0] == 1 and p.counters()["last_error"] == "Permanent: 403"


def test_a_full_queue_drops_the_oldest_and_close_sends_what_waits() -> None:
    got: list[list[int]] = []
    b: Batcher[int] = Batcher("t", got.append, BatchLimits(max_items=100, max_delay_s=60, max_queued=3))
    b.add(range(5))
    assert b.counters()["dropped"] == 2 and b.counters()["queued"] == 3
    b.close()
    assert got == [[2, 3, 4]]


def test_batch_limits_read_from_a_table_name_the_bad_key() -> None:
    assert batch_limits({"batch_size": 7, "batch_delay_s": 2}, "x").max_items == 7
    with pytest.raises(PluginConfigError, match=r"\[plugins.x\] batch_bytes = 'big'"):
        batch_limits({"batch_bytes": "big"}, "x")

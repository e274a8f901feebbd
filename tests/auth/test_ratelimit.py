"""Token buckets per project and per key: bursts, sustained rates, debt, overrides and Retry-After."""

from __future__ import annotations

import pytest

from lynex_box.auth.ratelimit import IngestLimiter, RateLimited
from lynex_box.config import LimitsSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(**kw: float) -> tuple[IngestLimiter, Clock]:
    base: dict[str, float] = dict.fromkeys(
        (
            "project_events_per_s",
            "project_events_burst",
            "project_bytes_per_s",
            "project_bytes_burst",
            "key_events_per_s",
            "key_events_burst",
            "key_bytes_per_s",
            "key_bytes_burst",
        ),
        0.0,
    )
    base.update(kw)
    clock = Clock()
    return IngestLimiter(LimitsSettings(**base), clock), clock  # type: ignore[arg-type]  # ints given as floats


def test_burst_then_sustained_rate_with_retry_after() -> None:
    lim, clock = limiter(project_events_per_s=10, project_events_burst=20)
    lim.take("p", "k", events=20)
    with pytest.raises(RateLimited) as info:
        lim.take("p", "k", events=5)
    assert info.value.retry_after_s == 1 and "project events" in info.value.what
    clock.now += 0.5
    lim.take("p", "k", events=5)
    with pytest.raises(RateLimited):
        lim.take("p", "k", events=1)


def test_a_refused_request_charges_nothing() -> None:
    lim, clock = limiter(project_events_per_s=10, project_events_burst=10, key_bytes_per_s=100, key_bytes_burst=100)
    lim.take("p", "k", events=10, nbytes=1)
    with pytest.raises(RateLimited):
        lim.take("p", "k", events=1, nbytes=50)  # the project bucket is empty: the key's bytes stay untouched
    clock.now += 1
    lim.take("p", "k", events=10, nbytes=99)


def test_a_request_larger_than_the_burst_passes_on_a_full_bucket_and_leaves_debt() -> None:
    lim, clock = limiter(project_events_per_s=100, project_events_burst=100)
    lim.take("p", "k", events=300)
    with pytest.raises(RateLimited) as info:
        lim.take("p", "k", events=1)
    assert info.value.retry_after_s == 3
    clock.now += 3.0
    lim.take("p", "k", events=1)


def test_keys_and_projects_have_their_own_buckets() -> None:
    lim, _ = limiter(key_events_per_s=1, key_events_burst=5)
    lim.take("p", "k1", events=5)
    with pytest.raises(RateLimited, match="API key"):
        lim.take("p", "k1", events=1)
    lim.take("p", "k2", events=5)
    lim.take("other", "k3", events=5)


def test_zero_means_unlimited_and_overrides_apply_per_project() -> None:
    lim, _ = limiter()
    lim.take("p", "k", events=10**9, nbytes=10**12)
    lim.set_overrides({"slow": {"events_per_s": 1.0, "events_burst": 2}})
    assert lim.project_limits("slow").events_per_s == 1.0
    lim.take("slow", "k", events=2)
    with pytest.raises(RateLimited):
        lim.take("slow", "k", events=1)
    lim.take("fast", "k", events=10**6)
    lim.set_overrides({})
    lim.take("slow", "k", events=10**6)


def test_bytes_are_limited_too() -> None:
    lim, clock = limiter(project_bytes_per_s=1000, project_bytes_burst=1000)
    lim.take("p", "k", nbytes=1000)
    with pytest.raises(RateLimited, match="bytes"):
        lim.take("p", "k", nbytes=500)
    clock.now += 0.5
    lim.take("p", "k", nbytes=500)


def test_raised_limits_apply_at_once() -> None:
    lim, _ = limiter()
    lim.set_overrides({"p": {"events_per_s": 1.0, "events_burst": 2}})
    lim.take("p", "k", events=2)
    with pytest.raises(RateLimited):
        lim.take("p", "k", events=1)
    lim.set_overrides({"p": {"events_per_s": 1000.0, "events_burst": 100}})
    lim.take("p", "k", events=50)

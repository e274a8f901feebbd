"""Login lockout: a lock after repeated failures per email and per address, doubling, capped, reset by success."""

from __future__ import annotations

from lynex_box.auth.throttle import LoginThrottle
from lynex_box.config import AuthSettings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(**kw: float) -> tuple[LoginThrottle, Clock]:
    settings = AuthSettings(**{"login_max_failures": 3, "login_lockout_s": 10.0, "login_lockout_max_s": 35.0, **kw})  # type: ignore[arg-type]
    clock = Clock()
    return LoginThrottle(settings, clock), clock


def test_lock_after_max_failures_then_doubling_up_to_the_cap() -> None:
    t, clock = make()
    for _ in range(2):
        t.failed("A@x.io", "1.1.1.1")
        assert t.retry_after("a@x.io", "1.1.1.1") is None
    t.failed("a@x.io", "1.1.1.1")
    assert t.retry_after("a@x.io", "2.2.2.2") == 10.0
    clock.now += 10.0
    assert t.retry_after("a@x.io", "2.2.2.2") is None
    t.failed("a@x.io", "2.2.2.2")
    assert t.retry_after("a@x.io", "3.3.3.3") == 20.0
    clock.now += 20.0
    t.failed("a@x.io", "2.2.2.2")
    assert t.retry_after("a@x.io", "3.3.3.3") == 35.0  # 40 capped at 35


def test_success_resets_the_email_but_not_the_address() -> None:
    t, _ = make(login_max_failures_per_ip=4)
    for email in ("a@x.io", "a@x.io", "b@x.io"):
        t.failed(email, "9.9.9.9")
    t.succeeded("a@x.io")
    t.failed("a@x.io", "8.8.8.8")
    assert t.retry_after("a@x.io", "8.8.8.8") is None
    t.failed("c@x.io", "9.9.9.9")  # the 4th failure from this address, over three emails
    assert t.retry_after("d@x.io", "9.9.9.9") == 10.0
    assert t.retry_after("d@x.io", "7.7.7.7") is None


def test_reserve_counts_the_attempt_before_it_is_checked() -> None:
    """Parallel guesses: each reservation counts at once, so no more than the limit get to check a password."""
    t, _ = make()
    admitted = [t.reserve("a@x.io", "1.1.1.1") is None for _ in range(40)]
    assert admitted.count(True) == 3
    assert admitted[:3] == [True, True, True]


def test_a_reserved_attempt_that_succeeds_is_refunded_to_the_address() -> None:
    t, _ = make(login_max_failures=100, login_max_failures_per_ip=2)
    for _ in range(10):  # ten good logins from one office address never lock it
        assert t.reserve("a@x.io", "5.5.5.5") is None
        t.succeeded("a@x.io", "5.5.5.5")
    assert t.retry_after("b@x.io", "5.5.5.5") is None
    assert t.reserve("b@x.io", "5.5.5.5") is None
    assert t.reserve("c@x.io", "5.5.5.5") is None  # two failures: the address is locked
    assert t.retry_after("d@x.io", "5.5.5.5") == 10.0

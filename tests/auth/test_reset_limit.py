"""The hourly limits on password reset emails: per recipient (silent) and per source address (429)."""

from __future__ import annotations

from lynex_box.auth.reset_limit import ResetRequestLimit
from lynex_box.config import AuthSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_recipient_gets_its_share_per_hour_whatever_the_case_of_the_address() -> None:
    clock = Clock()
    limit = ResetRequestLimit(AuthSettings(email_reset_per_email_per_hour=2), clock)
    assert [limit.email_allowed(e) for e in ("a@x.io", "A@X.io ", "a@x.io", "b@x.io")] == [True, True, False, True]
    clock.now += 3599
    assert not limit.email_allowed("a@x.io")
    clock.now += 1
    assert limit.email_allowed("a@x.io")


def test_a_source_address_over_its_limit_is_told_how_long_to_wait() -> None:
    clock = Clock()
    limit = ResetRequestLimit(AuthSettings(email_reset_per_ip_per_hour=3), clock)
    assert [limit.ip_retry_after("10.0.0.1") for _ in range(3)] == [None, None, None]
    clock.now += 600
    assert limit.ip_retry_after("10.0.0.1") == 3000
    assert limit.ip_retry_after("10.0.0.2") is None
    clock.now += 3000
    assert limit.ip_retry_after("10.0.0.1") is None

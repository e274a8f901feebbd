"""Rule validation, the threshold comparison and URL checks: pure code, no server."""

from __future__ import annotations

from typing import Any

import pytest

from lynex_box.alerts.rules import Channel, RuleError, RuleLimits, breached, check_url, parse_rule, redact_url
from lynex_box.alerts.targets import TargetPolicy
from tests.alerts.channel_types import CHANNELS

LIMITS = RuleLimits(min_interval_s=10, default_interval_s=60, max_window_s=3600, channels=CHANNELS)
BASE: dict[str, Any] = {"name": "errors", "metric": "error_rate", "comparison": "gt", "threshold": 0.1, "window_s": 300}


def test_a_minimal_rule_gets_the_defaults() -> None:
    spec = parse_rule(BASE, LIMITS)
    assert (spec.interval_s, spec.renotify_s, spec.enabled, spec.filters, spec.channels) == (60, 0, True, {}, ())


@pytest.mark.parametrize(
    ("value", "comparison", "threshold", "expected"),
    [
        (2.0, "gt", 1.0, True),
        (1.0, "gt", 1.0, False),
        (1.0, "gte", 1.0, True),
        (0.5, "lt", 1.0, True),
        (1.0, "lte", 1.0, True),
        (None, "lt", 1.0, False),  # no data never fires, so a quiet window resolves
    ],
)
def test_breached(value: float | None, comparison: str, threshold: float, expected: bool) -> None:
    assert breached(value, comparison, threshold) is expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"interval_s": 5}, "interval_s must be a whole number of seconds in 10..86400"),
        ({"window_s": 3601}, "window_s"),
        ({"threshold": float("nan")}, "threshold must be a finite number"),
        ({"threshold": True}, "threshold"),
        ({"enabled": "yes"}, "enabled"),
        ({"name": ""}, "name"),
        ({"comparison": "=="}, "comparison must be one of"),
        ({"filters": {"model": 5}}, "filters.model"),
        ({"channels": [{"type": "pager"}]}, "channels[0].type"),
        ({"channels": [{"type": "slack", "url": "https://hooks.slack.com/x", "secret": "a" * 20}]}, "secret is for"),
        ({"channels": [{"type": "webhook", "url": "https://u:p@example.com/"}]}, "user name or password"),
        ({"channels": [{"type": "webhook", "url": "http://127.0.0.1:8080/"}]}, "allow_private_targets"),
        ({"channels": [{"type": "webhook", "url": "http://169.254.169.254/latest"}]}, "link-local"),
        ({"channels": [{"type": "webhook", "url": "http://localhost/"}]}, "private"),
        ({"channels": [{"type": "webhook", "url": "http://[::ffff:10.0.0.1]/"}]}, "private"),
        ({"channels": [{"type": "email", "to": ["a@example.com"]}]}, "[smtp]"),
    ],
)
def test_bad_values_are_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rule(BASE | change, LIMITS)
    assert message in str(info.value)


def test_private_targets_and_email_pass_when_the_instance_allows_them() -> None:
    limits = RuleLimits(targets=TargetPolicy(allow_private=True), email_enabled=True, channels=CHANNELS)
    channels = [{"type": "webhook", "url": "http://127.0.0.1:9/x"}, {"type": "email", "to": ["ops@example.com"]}]
    spec = parse_rule(BASE | {"channels": channels}, limits)
    assert [c.type for c in spec.channels] == ["webhook", "email"] and spec.channels[1].to == ("ops@example.com",)
    with pytest.raises(RuleError, match="one email address"):
        parse_rule(BASE | {"channels": [{"type": "email", "to": ["a@b.com\r\nBcc: x@y.com"]}]}, limits)


def test_a_patch_keeps_what_it_does_not_name_and_a_channel_by_id_keeps_its_secret() -> None:
    hook = {"type": "webhook", "url": "https://example.com/hook/abcdef", "secret": "0123456789abcdef"}
    spec = parse_rule(BASE | {"channels": [hook]}, LIMITS)
    kept = spec.channels[0]
    patched = parse_rule({"threshold": 0.2, "channels": [{"id": kept.id}]}, LIMITS, spec)
    assert (patched.threshold, patched.name, patched.window_s) == (0.2, "errors", 300)
    assert patched.channels == (kept,)
    unsigned = parse_rule({"channels": [{"id": kept.id, "secret": None}]}, LIMITS, spec)
    assert unsigned.channels[0].secret is None and unsigned.channels[0].url == kept.url
    assert parse_rule({"name": "renamed"}, LIMITS, spec).channels == (kept,)
    with pytest.raises(RuleError, match="stays what it was"):
        parse_rule({"channels": [{"id": kept.id, "type": "slack"}]}, LIMITS, spec)


def test_public_channels_show_no_url_path_or_secret() -> None:
    hook = {"type": "webhook", "url": "https://hooks.example.com/services/T000/B000/XXXXsecretZZ9x", "secret": "s" * 16}
    public = parse_rule(BASE | {"channels": [hook]}, LIMITS).channels[0].public()
    channel = Channel("ch_1", "webhook")
    target = "https://hooks.example.com/…ZZ9x"
    assert public == {"id": public["id"], "type": "webhook", "target": target, "signed": True}
    assert channel.public() == {"id": "ch_1", "type": "webhook"}
    assert redact_url("http://example.com:8080") == "http://example.com:8080/"
    assert redact_url("http://[2001:db8::1]:8080/hook/abcdef") == "http://[2001:db8::1]:8080/…cdef"
    assert check_url("https://example.com/x", "c", TargetPolicy()) == "https://example.com/x"

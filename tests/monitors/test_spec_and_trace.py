"""A monitor's validation (pure) and a run as native events: what the traces of a run carry."""

from __future__ import annotations

from typing import Any

import pytest

from lynex_box.alerts.targets import TargetPolicy
from lynex_box.config import IngestSettings
from lynex_box.monitors.spec import MonitorError, MonitorLimits, parse_monitor
from lynex_box.monitors.trace import model_reply, run_events
from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.native.validate import validate_event

LIMITS = MonitorLimits(min_interval_s=10, targets=TargetPolicy())
HTTP = {"type": "http", "url": "https://app.example.com/health", "headers": {"Authorization": "Bearer x"}}


def test_a_patch_keeps_what_it_does_not_name() -> None:
    first = parse_monitor({"name": "a", "target": HTTP, "assertions": [{"type": "status", "equals": 200}]}, LIMITS)
    assert (first.interval_s, first.timeout_s, first.target.method) == (300, 10.0, "GET")
    changed = parse_monitor({"interval_s": 60, "target": {"type": "http", "url": "https://app.example.com/v2"}},
                            LIMITS, first)  # fmt: skip
    assert changed.interval_s == 60 and changed.target.headers == {"Authorization": "Bearer x"}  # kept
    assert changed.assertions == first.assertions and changed.name == "a"
    assert "Bearer x" not in str(changed.target.public())


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"name": "a", "target": HTTP, "interval_s": 5}, "interval_s must be a whole number of seconds in 10..86400"),
        ({"name": "a", "target": HTTP, "cron": "* * * * * *"}, "five-field"),
        ({"name": "a", "target": HTTP | {"headers": {"Host": "x"}}}, "set by the server"),
        ({"name": "a", "target": HTTP | {"headers": {"X-A": "a\r\nb"}}}, "one line"),
        ({"name": "a", "target": {"type": "model", "base_url": "https://api.example.com/v1", "model": "m",
                                  "messages": [{"role": "tool", "content": "x"}]}}, "role"),
        ({"name": "a", "target": {"type": "http", "url": "http://user:pw@app.example.com/"}}, "user name"),
    ],
)  # fmt: skip
def test_bad_monitors_are_refused_naming_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(MonitorError, match=message):
        parse_monitor(doc, LIMITS)


def test_a_cron_schedule_under_the_minimum_interval_is_refused() -> None:
    with pytest.raises(MonitorError, match="more often than every 120 s"):
        parse_monitor({"name": "a", "target": HTTP, "cron": "* * * * *"}, MonitorLimits(min_interval_s=120))
    assert parse_monitor({"name": "a", "target": HTTP, "cron": "*/5 * * * *"}, LIMITS).cron == "*/5 * * * *"


def test_a_model_run_is_a_root_span_and_an_llm_span_the_native_validator_accepts() -> None:
    doc = {"choices": [{"message": {"role": "assistant", "content": "Paris"}}], "model": "gpt-4o-mini-2024",
           "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}  # fmt: skip
    reply = model_reply(doc)
    assert reply == ("Paris", {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}, "gpt-4o-mini-2024")
    target = {"type": "model", "model": "gpt-4o-mini"}
    monitor = {"id": "mon_1", "name": "m", "span_name": "synthetic m", "target": target}
    outcomes = [{"type": "answer_contains", "ok": False, "detail": "answer does not contain 'Lyon'"}]
    events = run_events(
        monitor=monitor, run_id="run_1", trace_id="t" * 32, started_us=1_800_000_000_000_000, latency_ms=250.0,
        ok=False, error=None, outcomes=outcomes, sent={"method": "POST", "url": "u", "messages": [{"role": "user",
        "content": "q"}]}, status=200, body="{}", reply=reply,
    )  # fmt: skip
    root, llm = events
    assert (root["name"], root["status"], root["environment"]) == ("synthetic m", "error", "synthetic")
    assert root["error"]["message"] == "answer_contains: answer does not contain 'Lyon'"
    assert root["metadata"]["synthetic"]["assertions"] == outcomes
    assert (llm["parent_span_id"], llm["type"], llm["usage"]["input_tokens"]) == (root["span_id"], "llm", 12)
    assert llm["status"] == "ok"  # the model answered; the monitor's check failed on the root span
    window = TimeWindow.at(IngestSettings(), 1_800_000_000_000_000)
    assert [validate_event(e, 100_000, window) for e in events] == [None, None]
    assert (model_reply([1]), model_reply({"choices": "x"})[0]) == ((None, {}, None), None)

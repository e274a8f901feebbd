"""A monitor run as native events (docs/events.md): pure, no I/O.

Every run is one trace: a root span `synthetic <monitor name>` (type `span`, environment `synthetic`, tag
`synthetic`, and under `metadata.synthetic` the monitor id, run id and each assertion's outcome), whose status is
`error` when the request failed or an assertion did not hold, and whose duration is the request's latency. A model
target adds a child `llm` span with the model, the messages sent, the answer and the tokens of `usage`, so the
pipeline prices it like any other LLM call. Texts are cut to `MAX_TEXT` characters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

MAX_TEXT: Final = 8192


def _time(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat()


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def model_reply(doc: Any) -> tuple[str | None, dict[str, int], str | None]:
    """(answer, usage in native keys, response model) of a chat-completions answer; Nones when it is not one."""
    if not isinstance(doc, dict):
        return None, {}, None
    answer = None
    choices = doc.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            answer = message["content"]
    usage: dict[str, int] = {}
    raw = doc.get("usage")
    if isinstance(raw, dict):
        for theirs, ours in (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens"),
                             ("total_tokens", "total_tokens")):  # fmt: skip
            value = raw.get(theirs)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                usage[ours] = value
    model = doc.get("model") if isinstance(doc.get("model"), str) else None
    return answer, usage, model


def run_events(
    *,
    monitor: dict[str, Any],
    run_id: str,
    trace_id: str,
    started_us: int,
    latency_ms: float,
    ok: bool,
    error: str | None,
    outcomes: list[dict[str, Any]],
    sent: dict[str, Any],
    status: int | None,
    body: str,
    reply: tuple[str | None, dict[str, int], str | None] | None,
) -> list[dict[str, Any]]:
    """The events of one run. `monitor` is the monitor's public form (`StoredMonitor.as_dict`)."""
    end_us = started_us + max(0, round(latency_ms * 1000))
    failed = [o for o in outcomes if not o["ok"]]
    message = error or "; ".join(f"{o['type']}: {o['detail']}" for o in failed) or None
    root: dict[str, Any] = {
        "event_id": f"{run_id}-root",
        "trace_id": trace_id,
        "span_id": f"{run_id}-root",
        "name": monitor["span_name"],
        "type": "span",
        "start_time": _time(started_us),
        "end_time": _time(end_us),
        "status": "ok" if ok else "error",
        "environment": "synthetic",
        "tags": ["synthetic"],
        "input": {k: v for k, v in sent.items() if v is not None},
        "output": {"status": status, "body": _cut(body)},
        "metadata": {
            "synthetic": {
                "monitor_id": monitor["id"],
                "monitor_name": monitor["name"],
                "run_id": run_id,
                "target_type": monitor["target"]["type"],
                "ok": ok,
                "assertions": outcomes,
            }
        },
    }
    if message is not None:
        root["error"] = {"type": "SyntheticCheckFailed" if error is None else "SyntheticRequestFailed",
                         "message": _cut(message)}  # fmt: skip
    events = [root]
    if monitor["target"]["type"] == "model":
        answer, usage, response_model = reply or (None, {}, None)
        llm: dict[str, Any] = {
            "event_id": f"{run_id}-llm",
            "trace_id": trace_id,
            "span_id": f"{run_id}-llm",
            "parent_span_id": f"{run_id}-root",
            "name": f"chat {monitor['target']['model']}",
            "type": "llm",
            "start_time": _time(started_us),
            "end_time": _time(end_us),
            "model": monitor["target"]["model"],
            "provider": "openai",
            "environment": "synthetic",
            "tags": ["synthetic"],
            "input": sent.get("messages") or [],
            "status": "ok" if error is None and status is not None and status < 400 else "error",
        }
        if response_model:
            llm["response_model"] = response_model
        if answer is not None:
            llm["output"] = {"messages": [{"role": "assistant", "content": _cut(answer)}]}
        if usage:
            llm["usage"] = usage
        if llm["status"] == "error":
            llm["error"] = {"type": "SyntheticRequestFailed", "message": _cut(error or f"status {status}")}
        events.append(llm)
    return events

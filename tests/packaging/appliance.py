"""What the packaging tests do to an appliance however it was installed (wheel, container): wait until it is
ready, send a trace through the native API and read it back."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx


def wait_ready(url: str, timeout: float = 60.0, alive: Any = None) -> None:
    """Poll `url/readyz` until it answers 200; `alive()` (if given) raising stops the wait early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url}/readyz did not answer 200 within {timeout} s")


def send_trace(url: str, creds: dict[str, str]) -> str:
    """Send a two-span trace (started now, so no retention hides it); returns its trace id."""
    trace_id = uuid.uuid4().hex
    now_ms = int(time.time() * 1000)
    events = [
        {"event_id": f"{trace_id}-root", "trace_id": trace_id, "span_id": "root", "name": "packaged",
         "type": "agent", "start_time": now_ms, "end_time": now_ms + 20},
        {"event_id": f"{trace_id}-llm", "trace_id": trace_id, "span_id": "llm", "parent_span_id": "root",
         "name": "chat", "type": "llm", "model": "gpt-4o", "provider": "openai", "start_time": now_ms + 1,
         "end_time": now_ms + 19, "usage": {"input_tokens": 10, "output_tokens": 2}},
    ]  # fmt: skip
    answer = httpx.post(
        f"{url}/v1/projects/{creds['project_id']}/events",
        json={"events": events},
        headers={"Authorization": f"Bearer {creds['api_key']}"},
        timeout=30,
    )
    assert answer.status_code == 202 and answer.json() == {"accepted": 2, "rejected": []}, answer.text
    return trace_id


def read_trace(url: str, creds: dict[str, str], trace_id: str, timeout: float = 30.0) -> list[str]:
    """The span names of `trace_id`, sorted, once the trace is visible."""
    deadline = time.monotonic() + timeout
    while True:
        got = httpx.get(
            f"{url}/v1/projects/{creds['project_id']}/traces/{trace_id}",
            headers={"Authorization": f"Bearer {creds['api_key']}"},
            timeout=30,
        )
        if got.status_code == 200:
            return sorted(span["name"] for span in got.json()["spans"])
        assert got.status_code == 404 and time.monotonic() < deadline, (got.status_code, got.text)
        time.sleep(0.1)

"""The crash matrix's pieces: a load that records what the real server acknowledged, and the one checker.

`Load` runs a few client threads against a `RunningServer`: native event batches and OTLP/HTTP protobuf
requests (a span counts as acknowledged once its request got its 2xx), and a phase's own actions: deleting
acknowledged traces (their spans count as deleted once the DELETE got its 202) or downloading exports. The
threads stop when the server dies. `Ledger` keeps every span by `trace_id/span_id`, the identity queries show.

`check` reads every span back through the query API (`/spans`, page by page, no deduplication in between) and
the totals of `/metrics`: each acknowledged span exactly once, each deleted or expired one absent, nothing that
was never sent, and the same total both ways.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.e2e.server import RunningServer

DAY_MS = 86_400_000
SPANS_PER_TRACE = 4


@dataclass
class Ledger:
    """What the clients sent and what the server answered, by span key `trace_id/span_id`."""

    sent: set[str] = field(default_factory=set)
    acked: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)  # acknowledged, but older than the retention: hidden
    deleted: set[str] = field(default_factory=set)  # in a trace whose deletion got its 202
    maybe_deleted: set[str] = field(default_factory=set)  # in a trace whose DELETE got no answer (the crash)
    traces: dict[str, list[str]] = field(default_factory=dict)  # acknowledged native traces, deletable
    exports: int = 0
    failures: list[str] = field(default_factory=list)  # answers no client should get
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expected(self) -> set[str]:
        with self.lock:
            return self.acked - self.expired - self.deleted - self.maybe_deleted


def span_key(trace_id: str, span_id: str) -> str:
    return f"{trace_id}/{span_id}"


def native_batch(tag: str, traces: int, old_share: float) -> tuple[dict[str, Any], dict[str, list[str]], set[str]]:
    """A request body of `traces` traces; the first `old_share` of them start 10 days ago, the rest an hour ago.

    Returns the body, the span keys of each trace, and the keys of the old spans."""
    now = time.time_ns() // 1_000_000
    events, by_trace, old = [], {}, set()
    n_old = round(traces * old_share)
    for t in range(traces):
        trace = f"{tag}-t{t}"
        start = now - (10 * DAY_MS if t < n_old else 3_600_000) + t
        by_trace[trace] = []
        for s in range(SPANS_PER_TRACE):
            span = f"s{s}"
            events.append({
                "event_id": f"{trace}-{span}", "trace_id": trace, "span_id": span, "type": "llm", "model": "gpt-4o",
                "name": "chat", "start_time": start + s, "end_time": start + s + 50, "session_id": f"{tag}-sess",
                "user_id": f"user-{t % 3}", "usage": {"input_tokens": 100 + s, "output_tokens": 7},
                "input": [{"role": "user", "content": f"question {trace} {span} " + "lorem ipsum " * 20}],
            })  # fmt: skip
            by_trace[trace].append(span_key(trace, span))
            if t < n_old:
                old.add(span_key(trace, span))
    return {"events": events}, by_trace, old


def otlp_request(spans: int) -> tuple[bytes, set[str]]:
    """An OTLP/HTTP protobuf body of `spans` GenAI spans in one trace, an hour old; returns it and the span keys."""
    trace_id = os.urandom(16)
    start = time.time_ns() - 3_600_000_000_000
    out, keys = [], set()
    for i in range(spans):
        span_id = os.urandom(8)
        attrs = [KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")),
                 KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o-mini")),
                 KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=50 + i))]  # fmt: skip
        out.append(Span(trace_id=trace_id, span_id=span_id, name="chat gpt-4o-mini", kind=Span.SPAN_KIND_CLIENT,
                        start_time_unix_nano=start + i * 1000, end_time_unix_nano=start + i * 1000 + 5_000_000,
                        attributes=attrs))  # fmt: skip
        keys.add(span_key(trace_id.hex(), span_id.hex()))
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="crash-matrix"))])
    scopes = [ScopeSpans(spans=out)]
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=resource, scope_spans=scopes)])
    return request.SerializeToString(), keys


class Load:
    """Client threads against `server` until it dies (or `stop()`); every answer is written to `ledger`."""

    def __init__(self, server: RunningServer, ledger: Ledger, tag: str, *, old_share: float = 0.0,
                 old_prelude: int = 0, deleter: bool = False, exporter: bool = False) -> None:  # fmt: skip
        self.server, self.ledger, self.tag = server, ledger, tag
        self.old_share, self.old_prelude = old_share, old_prelude
        self._stop = threading.Event()
        self._prelude_done = threading.Event()  # OTLP waits: the old-only batches must be alone in their segment
        if not old_prelude:
            self._prelude_done.set()
        workers = [self._native, self._otlp]
        workers += ([self._delete] if deleter else []) + ([self._export] if exporter else [])
        self._threads = [threading.Thread(target=w, daemon=True) for w in workers]

    def start(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    @property
    def _base(self) -> str:
        return f"{self.server.url}/v1/projects/{self.server.project}"

    def _native(self) -> None:
        ledger = self.ledger
        with httpx.Client(timeout=30, headers=self.server.headers()) as http:
            k = 0
            while not self._stop.is_set():
                old_share = 1.0 if k < self.old_prelude else self.old_share
                body, by_trace, old = native_batch(f"{self.tag}n{k}", 5, old_share)
                keys = {key for spans in by_trace.values() for key in spans}
                with ledger.lock:
                    ledger.sent |= keys
                try:
                    r = http.post(f"{self._base}/events", json=body)
                except httpx.HTTPError:
                    return  # the server died mid-request: not acknowledged
                if r.status_code == 202 and not r.json()["rejected"]:
                    with ledger.lock:
                        ledger.acked |= keys
                        ledger.expired |= old
                        ledger.traces.update({t: s for t, s in by_trace.items() if not old & set(s)})
                elif r.status_code != 503:  # 503: backpressure, retried by a real client
                    with ledger.lock:
                        ledger.failures.append(f"events: {r.status_code} {r.text[:200]}")
                k += 1
                if k == self.old_prelude and not self._prelude_done.is_set():
                    self._stop.wait(1.0)  # the old-only batches get a segment of their own
                    self._prelude_done.set()
                self._stop.wait(0.03)

    def _otlp(self) -> None:
        ledger = self.ledger
        headers = {**self.server.headers(), "Content-Type": "application/x-protobuf"}
        while not self._prelude_done.wait(0.1):
            if self._stop.is_set():
                return
        with httpx.Client(timeout=30, headers=headers) as http:
            while not self._stop.is_set():
                body, keys = otlp_request(8)
                with ledger.lock:
                    ledger.sent |= keys
                try:
                    r = http.post(f"{self.server.url}/v1/traces", content=body)
                except httpx.HTTPError:
                    return
                if r.status_code == 200 and not r.content:  # an empty answer: no partial_success
                    with ledger.lock:
                        ledger.acked |= keys
                elif r.status_code != 503:
                    with ledger.lock:
                        ledger.failures.append(f"otlp: {r.status_code} {r.content[:200]!r}")
                self._stop.wait(0.05)

    def _delete(self) -> None:
        ledger = self.ledger
        with httpx.Client(timeout=30, headers=self.server.headers()) as http:
            while not self._stop.wait(0.2):
                with ledger.lock:
                    if len(ledger.traces) < 4:
                        continue
                    trace, keys = ledger.traces.popitem()
                    ledger.maybe_deleted |= set(keys)
                try:
                    r = http.delete(f"{self._base}/traces/{trace}")
                except httpx.HTTPError:
                    return
                with ledger.lock:
                    if r.status_code == 202:
                        ledger.maybe_deleted -= set(keys)
                        ledger.deleted |= set(keys)
                    else:
                        ledger.failures.append(f"delete: {r.status_code} {r.text[:200]}")

    def _export(self) -> None:
        with httpx.Client(timeout=30, headers=self.server.headers()) as http:
            while not self._stop.wait(0.3):
                try:
                    with http.stream("GET", f"{self._base}/export", params={"format": "jsonl"}) as r:
                        for _ in r.iter_bytes():
                            pass
                except httpx.HTTPError:
                    return  # cut off by the crash: a truncated download
                with self.ledger.lock:
                    if r.status_code == 200:
                        self.ledger.exports += 1
                    else:
                        self.ledger.failures.append(f"export: {r.status_code}")


def listed_spans(server: RunningServer) -> Counter[str]:
    """Every span the query API lists (all time, page by page), counted by key."""
    counts: Counter[str] = Counter()
    cursor = None
    with httpx.Client(timeout=60, headers=server.headers()) as http:
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            r = http.get(f"{server.url}/v1/projects/{server.project}/spans", params=params)
            assert r.status_code == 200, r.text
            body = r.json()
            counts.update(span_key(row["trace_id"], row["span_id"]) for row in body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                return counts


def total_count(server: RunningServer) -> int:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/metrics", headers=server.headers(), timeout=60)
    assert r.status_code == 200, r.text
    series = r.json()["series"]
    return int(series[0]["points"][0]["count"]) if series else 0


def check(server: RunningServer, ledger: Ledger, when: str) -> None:
    """The matrix's one assertion: what was acknowledged is there once, what was deleted or expired is not."""
    assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200, f"{when}: not ready"
    counts = listed_spans(server)
    expected = ledger.expected()
    with ledger.lock:
        gone = ledger.deleted | ledger.expired
        sent = set(ledger.sent)
    missing = sorted(k for k in expected if counts[k] == 0)
    twice = sorted(k for k, n in counts.items() if n > 1)
    back = sorted(k for k in gone if counts[k])
    invented = sorted(set(counts) - sent)
    assert not missing, f"{when}: {len(missing)} of {len(expected)} acknowledged spans lost, e.g. {missing[:3]}"
    assert not twice, f"{when}: {len(twice)} spans listed more than once, e.g. {twice[:3]}"
    assert not back, f"{when}: {len(back)} deleted or expired spans visible, e.g. {back[:3]}"
    assert not invented, f"{when}: spans nobody sent, e.g. {invented[:3]}"
    assert total_count(server) == sum(counts.values()), f"{when}: /metrics counts another total than /spans lists"


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if condition():
                return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")

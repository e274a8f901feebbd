"""Soak test: a real `lynex-box run` under a steady mix of everything it does, for a set time.

A few async clients (one event loop, modest rates: the box has 2 cores shared with the server) run side by side:
native event batches and OTLP/HTTP protobuf requests, the dashboard calls the UI's views make (traces list,
metrics, a trace, sessions and users), export downloads, and logins of a user account with a few wrong
passwords for another email (kept under the login lockout: see `login_wrong` below). The server's RSS (with its
decode workers) and data dir size are sampled throughout.

Prints one JSON object: per activity its count, rate and p50/p95/p99/max latency; the RSS series (compact) with a
first-third vs last-third comparison and a slope after the warm-up; disk bytes per stored span; errors by kind
(every answer other than the expected one, every transport error, any acknowledged span not stored exactly once,
an unclean stop). Exit code 1 when there are errors or, in runs of at least `MIN_JUDGED_S` (10 minutes), when RSS
grew beyond the tolerance; 0 otherwise.

    python bench/soak.py                     # 3 minutes
    python bench/soak.py --duration 1800     # the 30-minute soak
    python bench/soak.py --duration 20       # the bounded version tests/bench/test_soak_smoke.py runs
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

BENCH = Path(__file__).resolve().parent
for p in (str(BENCH.parent), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

from otlp import genai_llm, kv, openinference_llm, text, tool_span  # noqa: E402

from tests.e2e.server import RunningServer  # noqa: E402

# The server takes about two minutes under this load to reach its working set (the head between flushes, DuckDB's
# state in each query thread, the allocator's arenas of the request threads): shorter runs report RSS, the verdict
# needs at least MIN_JUDGED_S, and leaves out the warm-up (the longer of the two).
MIN_JUDGED_S = 600
WARMUP_S, WARMUP_SHARE = 120.0, 0.15
# RSS swings by 100-200 MB within seconds (a head flush, an export's rows as Python objects, DuckDB's buffers), so
# the verdict compares baselines: RSS is flat when the lower quartile of the last third (after the warm-up) is at
# most this much above the first third's. The larger of the two.
RSS_TOLERANCE_MB, RSS_TOLERANCE_SHARE = 40.0, 0.10
WRONG_LOGINS_MAX = 40  # the address is locked after 50 failures ([auth] login_max_failures_per_ip), never reset
VISIBLE_AFTER_S = 15.0
PASSWORD = "correct horse battery staple"
# Realistic intervals, shortened so that a 3-minute run sees flushes, compactions and replaced files cleared.
SERVER_ENV = {
    "LYNEX_HEAD_MAX_AGE_S": "10",
    "LYNEX_COMPACTION_INTERVAL_S": "60",
    "LYNEX_LIFECYCLE_GRACE_PERIOD_S": "30",
    "LYNEX_RETENTION_DAYS": "30",
}


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.items: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, detail[:300])

    async def call(self, activity: str, send: Callable[[], Awaitable[httpx.Response]], expect: int = 200,
                   items: int = 0) -> httpx.Response | None:  # fmt: skip
        """Time one request; anything but `expect` is an error of kind `activity:status`."""
        start = time.perf_counter()
        try:
            r = await send()
        except httpx.HTTPError as exc:
            self.error(f"{activity}:{type(exc).__name__}", str(exc))
            return None
        if r.status_code != expect:
            self.error(f"{activity}:{r.status_code}", r.text)
            return None
        self.latency[activity].append(time.perf_counter() - start)
        self.items[activity] += items
        return r


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)


async def paced(interval: float, until: float, step: Callable[[], Awaitable[None]]) -> None:
    """Run `step` every `interval` seconds until `until` (monotonic); when behind, go on at once without a burst."""
    due = time.monotonic()
    while due < until:
        await step()
        due += interval
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(min(delay, max(0.0, until - time.monotonic())))
        else:
            due = time.monotonic()


# --------------------------------------------------------------------------- request bodies


def native_body(rng: random.Random, tag: str, spans: int) -> bytes:
    """`spans` native events in traces of 5 (a chain root, LLM and tool children), starting now."""
    now = time.time_ns() // 1_000_000
    events: list[dict[str, Any]] = []
    for t in range(spans // 5):
        trace = f"{tag}-{t}"
        owner = {"user_id": f"user-{rng.randrange(50)}", "session_id": f"sess-{rng.randrange(300)}"}
        events.append({"event_id": f"{trace}-r", "trace_id": trace, "span_id": "r", "name": "handle-request",
                       "type": "chain", "start_time": now - 2000, "end_time": now, **owner})  # fmt: skip
        for k in range(4):
            span: dict[str, Any] = {"event_id": f"{trace}-{k}", "trace_id": trace, "span_id": f"c{k}",
                                    "parent_span_id": "r", "start_time": now - 1900 + k * 400,
                                    "end_time": now - 1600 + k * 400}  # fmt: skip
            if k % 2 == 0:
                span.update(type="llm", name="chat", provider="openai", model=rng.choice(["gpt-4o", "gpt-4o-mini"]),
                            usage={"input_tokens": rng.randrange(200, 2000), "output_tokens": rng.randrange(20, 400)},
                            input=[{"role": "user", "content": text(rng, 80)}],
                            output={"messages": [{"role": "assistant", "content": text(rng, 80)}]})  # fmt: skip
            else:
                span.update(type="tool", name="lookup", input={"query": text(rng, 6)}, output=text(rng, 20))
            events.append(span)
    return orjson.dumps({"events": events})


def otlp_body(rng: random.Random, spans: int) -> bytes:
    """An ExportTraceServiceRequest of traces of 4 spans (an agent root, then LLM and tool spans), starting now."""
    out: list[Span] = []
    now = time.time_ns()
    while len(out) < spans:
        trace_id, root = os.urandom(16), os.urandom(8)
        out.append(Span(trace_id=trace_id, span_id=root, name="invoke_agent shopper", start_time_unix_nano=now - 2 * 10**9,
                        end_time_unix_nano=now, attributes=[kv("gen_ai.operation.name", "invoke_agent"),
                                                            kv("session.id", f"sess-{rng.randrange(300)}")]))  # fmt: skip
        for k in range(3):
            name, attrs = ("chat", genai_llm(rng)) if k == 0 else (
                ("ChatCompletion", openinference_llm(rng)) if k == 1 else tool_span(rng))  # fmt: skip
            begin = now - 19 * 10**8 + k * 4 * 10**8
            out.append(Span(trace_id=trace_id, span_id=os.urandom(8), parent_span_id=root, name=name,
                            kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=begin, end_time_unix_nano=begin + 3 * 10**8,
                            attributes=attrs, status=Status(code=Status.STATUS_CODE_OK)))  # fmt: skip
    resource = Resource(attributes=[kv("service.name", "soak-agent"), kv("deployment.environment", "production")])
    scope = ScopeSpans(scope=InstrumentationScope(name="soak"), spans=out[:spans])
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[scope])]
    ).SerializeToString()


# --------------------------------------------------------------------------- the activities


class Soak:
    def __init__(self, server: RunningServer, args: argparse.Namespace) -> None:
        self.server, self.args = server, args
        self.stats = Stats()
        self.acked_spans = 0
        self.stored = 0  # the all-time count once the run is over
        self.recent: deque[tuple[float, str]] = deque(maxlen=100)  # (acknowledged at, native trace id)
        self.base = f"/v1/projects/{server.project}"
        self.login_attempts = 0
        self.wrong_logins = 0
        self.other_needs_reset = False
        self.rss: list[tuple[float, int, int]] = []  # (seconds, server + children bytes, server bytes)
        self.disk: list[tuple[float, int]] = []

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.server.url, timeout=60, **kw)

    async def ingest_native(self, until: float) -> None:
        rng, k, spans = random.Random(1), 0, self.args.native_batch
        headers = {**self.server.headers(), "Content-Type": "application/json"}
        async with self.client(headers=headers) as http:

            async def step() -> None:
                nonlocal k
                k += 1
                body = native_body(rng, f"n{k}", spans)
                r = await self.stats.call("ingest_native", lambda: http.post(f"{self.base}/events", content=body),
                                          202, spans)  # fmt: skip
                if r is not None and r.json()["rejected"]:
                    self.stats.error("ingest_native:rejected", r.text)
                elif r is not None:
                    self.acked_spans += spans
                    self.recent.append((time.monotonic(), f"n{k}-0"))

            await paced(spans / self.args.native_rate, until, step)

    async def ingest_otlp(self, until: float) -> None:
        rng, spans = random.Random(2), self.args.otlp_batch
        headers = {**self.server.headers(), "Content-Type": "application/x-protobuf"}
        async with self.client(headers=headers) as http:

            async def step() -> None:
                body = otlp_body(rng, spans)
                r = await self.stats.call("ingest_otlp", lambda: http.post("/v1/traces", content=body), 200, spans)
                if r is not None and r.content:  # a partial_success: every span here is valid
                    self.stats.error("ingest_otlp:partial_success", r.content.hex())
                elif r is not None:
                    self.acked_spans += spans

            await paced(spans / self.args.otlp_rate, until, step)

    async def dashboard(self, until: float, ui: httpx.AsyncClient) -> None:
        """The calls of the UI's views, in the order a user meets them: overview, traces, a trace, sessions."""

        async def step() -> None:
            now = time.time_ns() // 1_000_000
            window = {"from": now - int(self.args.query_window * 1000), "to": now + 60_000}
            get, call = ui.get, self.stats.call
            for params in ({"interval": "1m"}, {"group_by": "model", "top": 12}):
                await call("query_metrics", lambda p=params: get(f"{self.base}/metrics", params={**window, **p}))
            await call("query_traces", lambda: get(f"{self.base}/traces", params={**window, "limit": 50}))
            trace = self.openable()
            if trace is not None:
                await call("query_trace_view", lambda: get(f"{self.base}/traces/{trace}/outline"))
                await call("query_trace_view", lambda: get(f"{self.base}/traces/{trace}"))
            for view in ("sessions", "users"):
                await call("query_sessions", lambda v=view: get(f"{self.base}/{v}", params={**window, "limit": 50}))

        await paced(self.args.query_interval, until, step)

    def openable(self) -> str | None:
        """The newest trace acknowledged at least VISIBLE_AFTER_S ago (an acknowledged span is queryable soon after,
        not at once: the pipeline runs after the answer)."""
        ready = [trace for at, trace in self.recent if time.monotonic() - at >= VISIBLE_AFTER_S]
        return ready[-1] if ready else None

    async def exports(self, until: float, ui: httpx.AsyncClient) -> None:
        formats = ["jsonl", "parquet", "csv"]
        n = 0

        async def download() -> httpx.Response:
            now = time.time_ns() // 1_000_000
            params = {"format": formats[n % len(formats)], "from": now - 60_000, "to": now}
            async with ui.stream("GET", f"{self.base}/export", params=params) as r:
                size = sum([len(chunk) async for chunk in r.aiter_bytes()])
            if r.status_code == 200 and size == 0:
                self.stats.error("export:empty", "an export of the last minute had no bytes")
            return r

        async def step() -> None:
            nonlocal n
            n += 1
            await self.stats.call("export", download)

        await paced(self.args.export_interval, until, step)

    async def logins(self, until: float, user: str, other: str, duration: float) -> None:
        """Log in and out as `user`; now and then a wrong password for `other`, whose next login is then a right one
        (a success resets the email's failure count). Wrong ones stay under WRONG_LOGINS_MAX for the whole run,
        since the per-address count is never reset."""
        wrong_every = max(5, int(duration / self.args.login_interval / WRONG_LOGINS_MAX) + 1)

        async def step() -> None:
            self.login_attempts += 1
            async with self.client() as browser:
                if self.login_attempts % wrong_every == 2 and self.wrong_logins < WRONG_LOGINS_MAX:
                    self.wrong_logins += 1
                    self.other_needs_reset = True
                    body = {"email": other, "password": "not the password"}
                    await self.stats.call("login_wrong", lambda: browser.post("/api/auth/login", json=body), 401)
                    return
                email = other if self.other_needs_reset else user
                self.other_needs_reset = False
                body = {"email": email, "password": PASSWORD}
                r = await self.stats.call("login", lambda: browser.post("/api/auth/login", json=body))
                if r is not None:
                    csrf = {"X-CSRF-Token": r.json()["csrf_token"]}
                    await self.stats.call("logout", lambda: browser.post("/api/auth/logout", headers=csrf), 204)

        await paced(self.args.login_interval, until, step)

    async def sample(self, until: float, start: float) -> None:
        """RSS of the server and its children every `--sample-interval` s; the data dir's size every 10 s."""
        server = psutil.Process(self.server.proc.pid if self.server.proc else 0)
        children: list[psutil.Process] = []
        listed = last_disk = 0.0
        while time.monotonic() < until:
            now = time.monotonic()
            if now - listed > 10:
                children, listed = server.children(recursive=True), now
            own = total = server.memory_info().rss
            for child in children:
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            self.rss.append((now - start, total, own))
            if now - last_disk >= 10:
                self.disk.append((now - start, await asyncio.to_thread(dir_bytes, self.server.data_dir)))
                last_disk = now
            await asyncio.sleep(self.args.sample_interval)


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


# --------------------------------------------------------------------------- set-up, run, report


async def make_users(server: RunningServer) -> tuple[str, str, httpx.AsyncClient]:
    """Log in as the admin (the UI client of the dashboard and exports) and invite two users through the API."""
    ui = httpx.AsyncClient(base_url=server.url, timeout=120)
    r = await ui.post(
        "/api/auth/login", json={"email": server.creds["admin_email"], "password": server.creds["admin_password"]}
    )
    r.raise_for_status()
    ui.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    org_id = (await ui.get("/api/auth/me")).json()["orgs"][0]["id"]
    emails = []
    for name in ("soak-user", "soak-other"):
        email = f"{name}@example.com"
        invite = await ui.post(f"/api/orgs/{org_id}/invitations", json={"role": "member", "email": email})
        invite.raise_for_status()
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as browser:
            accept = await browser.post(
                "/api/invitations/accept", json={"token": invite.json()["token"], "password": PASSWORD}
            )
            accept.raise_for_status()
        emails.append(email)
    return emails[0], emails[1], ui


async def run(soak: Soak, duration: float) -> float:
    user, other, ui = await make_users(soak.server)
    start = time.monotonic()
    until = start + duration
    try:
        await asyncio.gather(
            soak.sample(until, start),
            soak.ingest_native(until),
            soak.ingest_otlp(until),
            soak.dashboard(until, ui),
            soak.exports(until, ui),
            soak.logins(until, user, other, duration),
        )
        elapsed = time.monotonic() - start
        await wait_stored(soak, ui)
    finally:
        await ui.aclose()
    return elapsed


async def stored_spans(soak: Soak, ui: httpx.AsyncClient) -> int:
    r = await ui.get(f"{soak.base}/metrics")
    r.raise_for_status()
    series = r.json()["series"]
    return int(series[0]["points"][0]["count"]) if series else 0


async def wait_stored(soak: Soak, ui: httpx.AsyncClient, timeout: float = 120.0) -> None:
    """Every acknowledged span is stored exactly once: the all-time count reaches the acknowledged count, no more."""
    deadline = time.monotonic() + timeout
    stored = await stored_spans(soak, ui)
    while stored < soak.acked_spans and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        stored = await stored_spans(soak, ui)
    soak.stored = stored
    if stored != soak.acked_spans:
        soak.stats.error("spans_not_stored_once", f"{soak.acked_spans} acknowledged, {stored} stored")


def rss_report(samples: list[tuple[float, int, int]], duration: float) -> dict[str, Any]:
    """The verdict on the server with its children; the server process alone alongside, to tell them apart."""
    step = max(1, len(samples) // 40)
    out: dict[str, Any] = {
        # [seconds since start, MB of the server + its children, MB of the server process alone]
        "series_mb": [[round(t), round(b / 2**20, 1), round(o / 2**20, 1)] for t, b, o in samples[::step]],
        **rss_trend([(t, b / 2**20) for t, b, _ in samples], duration),
        "server_process": rss_trend([(t, o / 2**20) for t, _, o in samples], duration),
    }
    out["server_process"].pop("judged")
    return out


def rss_trend(mb: list[tuple[float, float]], duration: float) -> dict[str, Any]:
    warm = max(WARMUP_S, WARMUP_SHARE * duration)
    window = [(t, m) for t, m in mb if t >= warm]
    out: dict[str, Any] = {
        "peak_mb": round(max(m for _, m in mb), 1) if mb else None,
        "warmup_s": round(warm),
        "judged": duration >= MIN_JUDGED_S and len(window) >= 6,
    }
    if len(window) >= 6:
        third = len(window) // 3
        first, last = [m for _, m in window[:third]], [m for _, m in window[-third:]]
        base_first, base_last = statistics.quantiles(first, n=4)[0], statistics.quantiles(last, n=4)[0]
        slope = statistics.linear_regression([t for t, _ in window], [m for _, m in window]).slope * 60
        tolerance = max(RSS_TOLERANCE_MB, RSS_TOLERANCE_SHARE * base_first)
        out |= {
            "first_third_mb": {"p25": round(base_first, 1), "median": round(statistics.median(first), 1)},
            "last_third_mb": {"p25": round(base_last, 1), "median": round(statistics.median(last), 1)},
            "baseline_growth_mb": round(base_last - base_first, 1),
            "median_growth_mb": round(statistics.median(last) - statistics.median(first), 1),
            "slope_mb_per_min": round(slope, 2),
            "tolerance_mb": round(tolerance, 1),
            "flat": base_last - base_first <= tolerance,
        }
    return out


def disk_report(data_dir: Path, stored: int, samples: list[tuple[float, int]]) -> dict[str, Any]:
    """After the clean stop (the head flushed): bytes per stored span, by part of the data dir."""
    parts = {name: dir_bytes(data_dir / name) for name in ("segments", "wal", "cache")}
    parts["meta_db"] = sum(p.stat().st_size for p in data_dir.glob("meta.db*"))
    total = dir_bytes(data_dir)
    return {
        "data_dir_bytes": total,
        "bytes_per_span": round(total / max(1, stored), 1),
        "segment_bytes_per_span": round(parts["segments"] / max(1, stored), 1),
        "parts_bytes": parts,
        "series_mb": [[round(t), round(b / 2**20, 1)] for t, b in samples[:: max(1, len(samples) // 20)]],
    }


def report(soak: Soak, elapsed: float, rc: int) -> dict[str, Any]:
    stats = soak.stats
    activities = {}
    for name in sorted(stats.latency):
        lat = stats.latency[name]
        activities[name] = {"requests": len(lat), "per_s": round(len(lat) / elapsed, 2),
                            "latency_ms": {"p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "p99": pct(lat, 0.99),
                                           "max": pct(lat, 1.0)}}  # fmt: skip
        if stats.items[name]:
            activities[name]["spans_per_s"] = round(stats.items[name] / elapsed, 1)
    if rc != 0:
        stats.error("server_exit", f"the server's clean stop ended with rc={rc}")
    stored = soak.stored
    rss = rss_report(soak.rss, elapsed)
    out = {
        "duration_s": round(elapsed, 1),
        "rates": {"native_spans_per_s": soak.args.native_rate, "otlp_spans_per_s": soak.args.otlp_rate},
        "spans": {"acknowledged": soak.acked_spans, "stored": stored},
        "activities": activities,
        "logins": {"attempts": soak.login_attempts, "wrong": soak.wrong_logins},
        "rss": rss,
        "disk": disk_report(soak.server.data_dir, stored, soak.disk),
        "errors": {"total": sum(stats.errors.values()), "by_kind": dict(stats.errors), "examples": stats.examples},
        "cores": os.cpu_count(),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
    }
    out["pass"] = out["errors"]["total"] == 0 and (not rss["judged"] or rss.get("flat", False))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=180.0, help="seconds of load (1800 for the 30-minute soak)")
    ap.add_argument("--native-rate", type=float, default=500.0, help="native spans per second")
    ap.add_argument("--native-batch", type=int, default=100, help="native spans per request (a multiple of 5)")
    ap.add_argument("--otlp-rate", type=float, default=250.0, help="OTLP spans per second")
    ap.add_argument("--otlp-batch", type=int, default=48, help="OTLP spans per request")
    ap.add_argument("--query-interval", type=float, default=2.0, help="seconds between dashboard rounds (7 calls)")
    ap.add_argument(
        "--query-window",
        type=float,
        default=60.0,
        help="seconds of data each dashboard call reads, ending now: once the run is longer, every call "
        "reads about the same volume, so RSS can settle (the UI's 1 h or 24 h grows with the store)",
    )
    ap.add_argument("--export-interval", type=float, default=10.0, help="seconds between exports (the last minute)")
    ap.add_argument("--login-interval", type=float, default=3.0, help="seconds between logins")
    ap.add_argument("--sample-interval", type=float, default=2.0, help="seconds between RSS samples")
    ap.add_argument("--tmp", default=None, help="parent of the temporary data dir")
    ap.add_argument("--keep", action="store_true", help="keep the data dir (printed in the output)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lynex-soak-", dir=args.tmp))
    server = RunningServer(work / "data", env=SERVER_ENV)
    try:
        server.start(timeout=120)
        soak = Soak(server, args)
        elapsed = asyncio.run(run(soak, args.duration))
        rc = server.stop()
        result = report(soak, elapsed, rc)
        if args.keep:
            result["data_dir"] = str(server.data_dir)
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    sys.exit(0 if result["pass"] else 1)


if __name__ == "__main__":
    main()

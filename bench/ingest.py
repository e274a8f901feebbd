"""End-to-end ingest benchmark: 4 HTTP clients send 500-span batches to a real `lynex-box run`.

Prints one JSON object: accepted spans/s, queryable spans/s, p50/p95/p99 time from a `202` to the
trace being visible in `/traces/{id}`, the server's peak RSS and its CPU time per span (start-up included), with the
issue's targets alongside.

    python bench/ingest.py                 # 200k spans (about a minute)
    python bench/ingest.py --spans 1000000
    python bench/ingest.py --plugin        # with one in-process `spans_stored` subscriber (docs/plugins.md)

`--plugin` installs a throwaway plugin for the server only (a `.dist-info` with its entry point in a temporary
directory on its PYTHONPATH) that subscribes to `spans_stored` and reads each table's row count: what the pipeline
pays to hand its spans to plugins. Compare with a run without it in the same session.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.server import free_port

WORDS = [
    "the",
    "a",
    "model",
    "answer",
    "question",
    "context",
    "document",
    "retrieve",
    "token",
    "cost",
    "latency",
    "user",
    "assistant",
    "system",
    "tool",
    "call",
    "result",
    "search",
    "weather",
    "database",
    "query",
    "summary",
    "explain",
    "detail",
    "customer",
    "order",
    "account",
    "invoice",
    "policy",
]
SYSTEM_PROMPTS = [
    "You are a helpful support assistant for an online shop. Answer briefly and cite the order id. " * 3,
    "You are a senior analyst. Summarise the retrieved documents and list the sources you used. " * 3,
    "You are a coding assistant. Explain the change, then give the patch in a fenced block. " * 3,
]


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def template_batch(size: int, seed: int) -> bytes:
    """One request body; `BATCHNO` placeholders (fixed width) make each sent copy unique."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    i = 0
    while len(events) < size:
        trace = f"BATCHNO-{i:04d}"
        root = {"event_id": f"{trace}-r", "trace_id": trace, "span_id": f"{trace}-r", "name": "handle-request",
                "type": "chain", "start_time": "2026-11-27T10:00:00Z", "end_time": "2026-11-27T10:00:02Z",
                "user_id": f"user-{rng.randrange(500)}", "session_id": f"sess-{rng.randrange(2000)}",
                "environment": "production"}  # fmt: skip
        events.append(root)
        for k in range(rng.randint(2, 6)):
            kind = rng.choice(["llm", "llm", "tool", "retriever"])
            span: dict[str, Any] = {"event_id": f"{trace}-{k}", "trace_id": trace, "span_id": f"{trace}-{k}",
                                    "parent_span_id": f"{trace}-r", "type": kind,
                                    "start_time": "2026-11-27T10:00:00.5Z", "end_time": "2026-11-27T10:00:01.5Z"}  # fmt: skip
            if kind == "llm":
                span.update(
                    name="chat", model=rng.choice(["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022"]),
                    provider="openai", usage={"input_tokens": rng.randrange(200, 3000), "output_tokens": rng.randrange(20, 600)},
                    input=[{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)},
                           {"role": "user", "content": text(rng, rng.randint(40, 120))}],
                    output={"messages": [{"role": "assistant", "content": text(rng, rng.randint(40, 140))}]},
                )  # fmt: skip
            else:
                span.update(name=kind + "-call", input={"query": text(rng, 8)}, output=text(rng, 30))
            events.append(span)
        i += 1
    return json.dumps({"events": events[:size]}).encode()


def rss_sampler(pid: int, stop: threading.Event, peak: list[int]) -> None:
    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            peak[0] = max(peak[0], proc.memory_info().rss)
        except psutil.Error:
            return
        time.sleep(0.05)


BENCH_PLUGIN = """
from lynex_box.plugins.hookspecs import hookimpl

class Spans:
    rows = 0

    @hookimpl
    def lynex_spans_stored(self, event):
        self.rows += event["spans"].num_rows

spans = Spans()
"""


def bench_plugin(root: Path) -> Path:
    """A directory that, on PYTHONPATH, installs the `bench-spans` plugin (a spans_stored subscriber)."""
    info = root / "lynex_bench_plugin-0.0.dist-info"
    info.mkdir(parents=True)
    (root / "lynex_bench_plugin.py").write_text(BENCH_PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lynex-bench-plugin\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text("[lynex_box.plugins]\nbench-spans = lynex_bench_plugin:spans\n")
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--durability", default="fsync")
    ap.add_argument("--plugin", action="store_true", help="run with one in-process spans_stored subscriber")
    ap.add_argument(
        "--pii", default="off", choices=["off", "detect", "redact"], help="[pii] default_mode of the server"
    )
    ap.add_argument("--pii-in-request", action="store_true", help="[pii] redact_in_request = true")
    ap.add_argument(
        "--detectors",
        default="on",
        choices=["on", "off"],
        help="the built-in detectors ([plugins] builtin_detectors; on by default, as in the server)",
    )
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="lynex-bench-"))
    port = free_port()
    # fixed span start times may be older than the default retention (30 days): keep everything
    # no OTLP/gRPC receiver: a bench beside a running appliance (or another bench) would find 4317 taken
    env = {**os.environ, "LYNEX_WAL_DURABILITY": args.durability, "LYNEX_RETENTION_DAYS": "0",
           "LYNEX_SERVER_OTLP_GRPC_PORT": "0", "LYNEX_PII_DEFAULT_MODE": args.pii,
           "LYNEX_PII_REDACT_IN_REQUEST": str(args.pii_in_request).lower(),
           "LYNEX_PLUGINS_BUILTIN_DETECTORS": "detectors" if args.detectors == "on" else ""}  # fmt: skip
    if args.plugin:
        site = bench_plugin(data.parent / f"{data.name}-site")
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
        env["LYNEX_PLUGINS_ENABLED"] = "bench-spans"
    server = subprocess.Popen(
        [sys.executable, "-m", "lynex_box", "run", "--data-dir", str(data), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    creds = json.loads(server.stdout.readline())
    project, key = creds["project_id"], creds["api_key"]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.05)
    templates = [template_batch(args.batch, seed) for seed in range(8)]
    batches = args.spans // args.batch
    next_batch = iter(range(batches))
    lock = threading.Lock()
    acked: list[tuple[int, float]] = []
    latencies: list[float] = []
    stop = threading.Event()
    peak = [0]
    sampler = threading.Thread(target=rss_sampler, args=(server.pid, stop, peak), daemon=True)
    sampler.start()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                n = next(next_batch, None)
            if n is None:
                return
            body = templates[n % len(templates)].replace(b"BATCHNO", f"b{n:06d}".encode())
            for _attempt in range(20):
                conn.request("POST", f"/v1/projects/{project}/events", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status == 202:
                    break
                time.sleep(float(resp.getheader("Retry-After") or 1))
            with lock:
                acked.append((n, time.monotonic()))

    def prober() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            with lock:
                last = acked[-1] if acked else None
            if last is None:
                time.sleep(0.05)
                continue
            n, t_ack = last
            while True:
                conn.request("GET", f"/v1/projects/{project}/traces/b{n:06d}-0000", headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    latencies.append(time.monotonic() - t_ack)
                    break
                time.sleep(0.01)
            time.sleep(0.2)

    probe = threading.Thread(target=prober, daemon=True)
    start = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    probe.start()
    for t in threads:
        t.join()
    sent_done = time.monotonic()
    stop.set()
    probe.join()
    total = batches * args.batch
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    visible = 0
    while visible < total and time.monotonic() - sent_done < 120:
        conn.request("GET", f"/v1/projects/{project}/metrics", headers=headers)
        resp = conn.getresponse()
        series = json.loads(resp.read())["series"]
        visible = series[0]["points"][0]["count"] if series else 0
        if visible < total:
            time.sleep(0.1)
    all_visible = time.monotonic()
    cpu = psutil.Process(server.pid).cpu_times()  # the server's own CPU (user + system), a steadier figure than
    server_cpu_s = cpu.user + cpu.system  # the rates on a machine shared with other work
    server.terminate()
    server.wait(60)
    on_disk = sum(p.stat().st_size for p in (data / "segments").rglob("*.parquet"))
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(data.parent / f"{data.name}-site", ignore_errors=True)
    lat = sorted(latencies) or [float("nan")]

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1)

    accepted_rate = total / (sent_done - start)
    queryable_rate = visible / (all_visible - start)
    result = {
        "spans": total,
        "batch": args.batch,
        "clients": args.clients,
        "durability": args.durability,
        "plugin": "bench-spans (spans_stored)" if args.plugin else None,
        "pii": args.pii + (" in request" if args.pii_in_request else ""),
        "detectors": args.detectors,
        "accepted_spans_per_s": round(accepted_rate),
        "queryable_spans_per_s": round(queryable_rate),
        "visible_spans": visible,
        "ingest_to_visible_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "samples": len(latencies)},
        "server_peak_rss_mb": round(peak[0] / 2**20, 1),
        "server_cpu_us_per_span": round(server_cpu_s * 1e6 / max(1, visible), 1),
        "segment_bytes_per_span": round(on_disk / max(1, visible), 1),
        "targets": {
            "queryable_spans_per_s >= 30000": queryable_rate >= 30_000,
            "p95_ingest_to_visible_ms < 1000": pct(0.95) < 1000,
            "server_peak_rss_mb < 500": peak[0] / 2**20 < 500,
        },
        "median_latency_ms": round(statistics.median(lat) * 1000, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

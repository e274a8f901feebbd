"""How much of the caller's time recording one LLM call costs, with the memory queue and with the disk buffer.

One recorded call is what an application (or a wrapper) does per LLM call: open a generation span with the model
and the messages, set its output and usage, end it (validate, write as JSON, queue or append to the buffer file).
The sender thread runs meanwhile and delivers to a sink (a separate process answering 202, so that the server's
work does not share this process), as it would in an application. Prints JSON; targets: under 50 µs per call
with the memory queue, under 200 µs with the disk buffer.

Figures per call: `mean_us`, `p50_us`, `p99_us` of wall-clock time in the recording call; `caller_cpu_us`, the
CPU time of the calling thread (what recording costs the caller, without the waits for the CPU or the GIL that a
loaded machine adds); `process_cpu_us`, the CPU time of the whole process (the sender thread's share included).
On a loaded machine the wall-clock mean mostly measures the scheduler: compare `caller_cpu_us` and `p50_us`.

    python sdks/python/bench/overhead.py [--calls 20000] [--url http://127.0.0.1:4318 --key ... --project ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import lynex

SINK = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"accepted": 0, "rejected": []}'
        self.send_response(202)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. Answer briefly and cite your sources."},
    {"role": "user", "content": "What is the capital of France, and how many people live there?"},
]
OUTPUT = {"messages": [{"role": "assistant", "content": "Paris; about 2.1 million people (2.1 M) in the city."}]}


def record_one(lx: lynex.Lynex) -> None:
    with lx.generation("chat gpt-4o", model="gpt-4o", provider="openai", input=MESSAGES) as gen:
        gen.update(output=OUTPUT, usage={"input_tokens": 42, "output_tokens": 17})


def measure(lx: lynex.Lynex, calls: int) -> dict[str, Any]:
    for _ in range(min(1000, calls)):  # warm-up
        record_one(lx)
    lx.flush(timeout=60)
    samples = []
    clock = time.perf_counter_ns
    started, cpu_started, process_started = clock(), time.thread_time_ns(), time.process_time_ns()
    for _ in range(calls):
        t0 = clock()
        record_one(lx)
        samples.append(clock() - t0)
    total = clock() - started
    cpu = time.thread_time_ns() - cpu_started
    process = time.process_time_ns() - process_started
    samples.sort()
    flushed = lx.flush(timeout=120)
    stats = lx.stats()
    return {
        "calls": calls,
        "mean_us": round(total / calls / 1000, 2),
        "caller_cpu_us": round(cpu / calls / 1000, 2),
        "process_cpu_us": round(process / calls / 1000, 2),
        "p50_us": round(samples[len(samples) // 2] / 1000, 2),
        "p99_us": round(samples[int(len(samples) * 0.99)] / 1000, 2),
        "max_us": round(samples[-1] / 1000, 2),
        "delivered_all": flushed and stats["dropped"] == 0,
        "dropped": stats["dropped"],
    }


def schema_check_cost() -> dict[str, Any]:
    """Our compiled schema check against `jsonschema` (when installed) on one recorded LLM call's event."""
    event = {
        "event_id": "01a24e83-b920-78cb-bb56-5a6ae7a9e243",
        "trace_id": "7b7d5c7c403148b32198460d0491f1ea",
        "span_id": "f97e205069823da4",
        "name": "chat gpt-4o",
        "type": "llm",
        "start_time": 1795000000000.123,
        "end_time": 1795000000900.456,
        "model": "gpt-4o",
        "provider": "openai",
        "input": MESSAGES,
        "output": OUTPUT,
        "usage": {"input_tokens": 42, "output_tokens": 17},
    }
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        lynex.validate_event(event)
    result: dict[str, Any] = {"lynex_us": round((time.perf_counter() - t0) / n * 1e6, 2)}
    code = "import time; t = time.perf_counter(); import jsonschema; print(time.perf_counter() - t)"
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if probe.returncode == 0:
        import jsonschema

        schema = json.loads(lynex._schema.schema_text())
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        t0 = time.perf_counter()
        for _ in range(2000):
            validator.validate(event)
        result["jsonschema_us"] = round((time.perf_counter() - t0) / 2000 * 1e6, 2)
        result["jsonschema_import_ms"] = round(float(probe.stdout) * 1000, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--fsync-calls", type=int, default=300, help="calls measured with buffer_fsync=True")
    parser.add_argument("--url", help="a running Lynex Box (default: a local sink process)")
    parser.add_argument("--key", default=os.environ.get("LYNEX_API_KEY", "bench"))
    parser.add_argument("--project", default=os.environ.get("LYNEX_PROJECT", "bench"))
    args = parser.parse_args()
    sink = None
    url = args.url
    if url is None:
        sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
        assert sink.stdout is not None
        url = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
    results: dict[str, Any] = {"target_us": {"memory": 50, "disk": 200}}
    try:
        options: dict[str, Any] = {"api_key": args.key, "base_url": url, "project_id": args.project}
        with lynex.Lynex(**options, max_queue_events=args.calls * 2) as lx:
            results["memory"] = measure(lx, args.calls)
        with tempfile.TemporaryDirectory() as tmp, lynex.Lynex(**options, buffer_dir=tmp) as lx:
            results["disk"] = measure(lx, args.calls)
        with (
            tempfile.TemporaryDirectory(dir=".") as tmp,
            lynex.Lynex(**options, buffer_dir=tmp, buffer_fsync=True) as lx,
        ):
            results["disk_fsync"] = measure(lx, args.fsync_calls)
        results["schema_check"] = schema_check_cost()
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait(10)
            sink.stdout.close()  # type: ignore[union-attr]
    results["memory_ok"] = results["memory"]["caller_cpu_us"] < 50
    results["disk_ok"] = results["disk"]["caller_cpu_us"] < 200
    results["load_average"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

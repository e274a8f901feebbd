"""Storage engine benchmark: WAL appends, WAL -> segments, bytes per span, queries over a large store.

Prints ONE JSON object with every figure, its target and pass/fail. Never part of the test run.

    python bench/storage.py                      # full run: 2M spans through the WAL, 10M-span query store
    python bench/storage.py --quick              # a minute or so: 200k spans, 1M-span query store
    python bench/storage.py --spans 2000000 --query-spans 10000000 --repeat 30

Phases (each in a fresh temp dir under /tmp, removed at the end):
  generate  realistic native-event request bodies (500 spans each, unique ids) written to a file, untimed
  (a) wal   4 threads append the bodies through `WalLog.append(EVENTS, encode_payload(...))` (what
            `Engine.append` does) with durability "fsync"; spans/s over the whole run
  (b) pipe  a fresh subprocess opens the Engine on that data dir: the WAL is replayed through the pipeline
            (decode, normalise, dedupe, head) and flushed to Parquet segments; spans/s and peak RSS
  (c) disk  bytes of the segment files written by (b) per span
  (d) query a store of --query-spans spans over 30 days, built by appending Arrow tables straight to
            `SpanStore` and flushing every --query-chunk rows (real segment files and catalog, no WAL),
            then queried through `QueryEngine.run`; p50/p95 over --repeat runs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lynex_box.config import Settings, load_settings  # noqa: E402

PROJECT = "bench"
DAY_US = 86_400_000_000
TARGETS = {
    "wal_append_spans_per_s": (">=", 100_000),
    "pipeline_spans_per_s": (">=", 50_000),
    "pipeline_peak_rss_mb": ("<", 400),
    "bytes_per_span": ("<", 400),
    "query_7d_cost_by_model_p95_ms": ("<", 150),
    "query_trace_lookup_p95_ms": ("<", 50),
}

# --------------------------------------------------------------------------- realistic content

MODELS = [  # provider, requested model, answered model, $/1M input, $/1M output, weight
    ("openai", "gpt-4o", "gpt-4o-2024-08-06", 2.5, 10.0, 30),
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 0.15, 0.6, 35),
    ("anthropic", "claude-3-5-sonnet", "claude-3-5-sonnet-20241022", 3.0, 15.0, 20),
    ("anthropic", "claude-3-5-haiku", "claude-3-5-haiku-20241022", 0.8, 4.0, 8),
    ("google", "gemini-1.5-pro", "gemini-1.5-pro-002", 1.25, 5.0, 7),
]
TOOLS = ["search_orders", "get_customer", "create_ticket", "lookup_invoice", "send_email", "get_weather", "run_sql"]
APPS = ["support-agent", "sales-assistant", "doc-qa", "code-review-bot"]
_SYLLABLE_TEXT = (
    "ka ri to na mo se lu vi pe da ne ro ti sa me lo ba ku zi fe go ha ji mi no pa qu ra su te un "
    "ve wa xo ya ze al bel cor den el for gan hin is jor kel lin mor nor ol pin quin ros sel tor ul"
)
SYLLABLES = _SYLLABLE_TEXT.split()
_COMMON_TEXT = (
    "the a to of and in is for you that it on with this your be can are as order please we i my "
    "have not will at from or account help by an if me do what so our thanks would need get which "
    "about there customer invoice refund delivery payment product issue time email number support"
)


def make_vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    common = _COMMON_TEXT.split()
    words = list(dict.fromkeys(common))
    while len(words) < size:
        words.append("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
    return words


def make_corpus(seed: int, n_words: int) -> str:
    """Zipf-distributed words with sentence punctuation: compresses like chat text, not like noise."""
    rng = random.Random(seed)
    vocab = np.array(make_vocabulary(random.Random(7)), dtype=object)
    ranks = np.arange(1, len(vocab) + 1)
    p = 1.0 / ranks**1.07
    gen = np.random.default_rng(seed)
    idx = gen.choice(len(vocab), size=n_words, p=p / p.sum())
    words = vocab[idx].tolist()
    for pos in range(0, n_words, 9):
        k = pos + rng.randrange(6, 18)
        if k < n_words:
            words[k] = words[k] + rng.choice((".", ".", ",", "?", ":"))
    return " ".join(words)


def make_system_prompts(rng: random.Random, corpus: str) -> list[str]:
    out = []
    for i, app in enumerate([*APPS, "translator"]):
        start = rng.randrange(len(corpus) - 2000)
        body = corpus[start : start + rng.randrange(300, 700)]
        out.append(
            f"You are {app}, a helpful assistant for Acme Corp. Follow the policy below. "
            f"Answer concisely, cite order numbers, never reveal internal notes. Policy v{i + 3}: {body}"
        )
    return out


class Workload:
    """Native events as the Python SDK sends them: traces of 3-8 spans of kinds chain/llm/tool/retriever."""

    def __init__(self, seed: int, start_us: int, span_us: int, corpus_words: int = 4_000_000) -> None:
        self.rng = random.Random(seed)
        self.corpus = make_corpus(seed, corpus_words)
        self.system = make_system_prompts(random.Random(11), make_corpus(11, 200_000))
        self.docs = [self.text(150, 400) for _ in range(300)]  # the knowledge base retrievers return
        self.users = [f"user_{i:05d}" for i in range(2000)]
        self.model_weights = [m[5] for m in MODELS]
        self.start_us = start_us
        self.span_us = span_us

    def text(self, lo: int, hi: int) -> str:
        n = self.rng.randrange(lo, hi)
        start = self.rng.randrange(len(self.corpus) - n - 32)
        start = self.corpus.find(" ", start) + 1
        return self.corpus[start : start + n]

    @staticmethod
    def ts(us: int) -> str:
        return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")

    def trace(self, t0: int) -> list[dict[str, Any]]:
        r = self.rng
        trace_id = uuid.UUID(int=r.getrandbits(128)).hex
        user = r.choice(self.users)
        session = f"sess_{user[5:]}_{r.randrange(40)}"
        app = r.randrange(len(APPS))
        env = "production" if r.random() < 0.9 else "staging"
        common = {"trace_id": trace_id, "session_id": session, "user_id": user, "environment": env,
                  "release": f"2026.11.{r.randrange(1, 6)}", "tags": [APPS[app]]}  # fmt: skip
        root_id = f"{r.getrandbits(64):016x}"
        question = self.text(60, 300)
        n_children = r.randrange(2, 8)
        cursor = t0 + r.randrange(200, 3000)
        children = []
        for _ in range(n_children):
            kind = r.choices(("llm", "tool", "retriever"), (45, 35, 20))[0]
            dur = {"llm": r.randrange(300_000, 6_000_000), "tool": r.randrange(5_000, 400_000),
                   "retriever": r.randrange(20_000, 300_000)}[kind]  # fmt: skip
            children.append(self.child(kind, app, question, cursor, dur))
            cursor += dur + r.randrange(100, 5000)
        status_error = r.random() < 0.02
        root = {
            "event_id": str(uuid.UUID(int=r.getrandbits(128))), "span_id": root_id, "name": APPS[app],
            "type": "chain", "start_time": self.ts(t0), "end_time": self.ts(cursor),
            "status": "error" if status_error else "ok", "input": {"question": question},
            "output": None if status_error else {"answer": self.text(80, 300)},
            "metadata": {"request_id": f"req_{r.getrandbits(48):012x}", "channel": r.choice(("web", "slack", "api"))},
        }  # fmt: skip
        if status_error:
            root["error"] = {"type": "TimeoutError", "message": "upstream model timed out after 30s"}
        out = [root]
        for child in children:
            child["parent_span_id"] = root_id
            out.append(child)
        for span in out:
            span.update(common)
        return out

    def child(self, kind: str, app: int, question: str, t0: int, dur: int) -> dict[str, Any]:
        r = self.rng
        span: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=r.getrandbits(128))), "span_id": f"{r.getrandbits(64):016x}",
            "type": kind, "start_time": self.ts(t0), "end_time": self.ts(t0 + dur), "status": "ok",
        }  # fmt: skip
        if kind == "llm":
            provider, model, answered, pin, pout, _ = r.choices(MODELS, self.model_weights)[0]
            system = self.system[app] if r.random() < 0.85 else self.system[-1]
            messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
            if r.random() < 0.3:
                messages.append({"role": "assistant", "content": self.text(100, 400)})
                messages.append({"role": "user", "content": self.text(30, 200)})
            answer = self.text(200, 800)
            tin = sum(len(m["content"]) for m in messages) // 4
            tout = len(answer) // 4
            cached = (len(system) // 4) if r.random() < 0.5 else 0
            span.update(
                name=f"{provider}.chat", provider=provider, model=model, response_model=answered,
                input=messages, output=[{"role": "assistant", "content": answer}],
                usage={"input_tokens": tin, "output_tokens": tout, "cached_tokens": cached},
                cost={"input": round(tin * pin / 1e6, 8), "output": round(tout * pout / 1e6, 8)},
                prompt={"name": f"{APPS[app]}-system", "version": r.randrange(1, 9)},
            )  # fmt: skip
        elif kind == "tool":
            tool = r.choice(TOOLS)
            span.update(
                name=tool, input={"order_id": f"A{r.randrange(10**7):07d}", "customer": r.choice(self.users)},
                output={"status": r.choice(("shipped", "pending", "refunded", "not_found")),
                        "eta_days": r.randrange(1, 9), "note": self.text(20, 120)},
            )  # fmt: skip
            if r.random() < 0.03:
                span["status"] = "error"
                span["error"] = {"type": "HTTPError", "message": "503 from orders service"}
        else:
            docs = [{"id": f"kb-{k}", "score": round(r.random(), 4), "text": self.docs[k][:200]}
                    for k in r.sample(range(len(self.docs)), 3)]  # fmt: skip
            span.update(name="vector_search", input={"query": question[:200], "top_k": 3}, output={"documents": docs})
        return span

    def batch(self, index: int, total: int, size: int = 500) -> bytes:
        """One request body of `size` spans; traces start spread over [start_us, start_us + span_us)."""
        events: list[dict[str, Any]] = []
        base = self.start_us + self.span_us * index // max(total, 1)
        step = max(1, self.span_us // max(total, 1))
        while len(events) < size:
            events.extend(self.trace(base + self.rng.randrange(step)))
        return orjson.dumps({"events": events[:size]})


def _generate_worker(args: tuple[int, str, int, int, int, int]) -> list[tuple[int, int, int]]:
    """Write batches `worker, worker + stride, ...` into one file; return (index, offset, length)."""
    worker, path, stride, n_batches, start_us, span_us = args
    wl = Workload(seed=1000 + worker, start_us=start_us, span_us=span_us)
    index = []
    with open(path, "wb") as fh:
        offset = 0
        for i in range(worker, n_batches, stride):
            body = wl.batch(i, n_batches)
            fh.write(body)
            index.append((i, offset, len(body)))
            offset += len(body)
    return index


# --------------------------------------------------------------------------- helpers


def settings_for(data_dir: Path, extra: dict[str, dict[str, Any]] | None = None) -> Settings:
    overrides: dict[str, dict[str, Any]] = {
        "server": {"data_dir": str(data_dir)},
        "wal": {"durability": "fsync"},
        "retention": {"days": 0},  # fixed span start times, older than the default retention
    }
    for section, values in (extra or {}).items():
        overrides.setdefault(section, {}).update(values)
    return load_settings(env={}, overrides=overrides)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2), "max": round(ordered[-1], 2)}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def dir_bytes(path: Path, suffix: str) -> int:
    return sum(p.stat().st_size for p in path.rglob(f"*{suffix}") if p.is_file())


# --------------------------------------------------------------------------- generate


def phase_generate(work: Path, n_spans: int, start_us: int, span_us: int) -> list[tuple[Path, int, int]]:
    """Unique request bodies of 500 spans, in batch order, as (file, offset, length); 2 processes."""
    import multiprocessing

    n_batches = max(1, -(-n_spans // 500))
    procs = min(2, os.cpu_count() or 1)
    jobs = [(w, str(work / f"batches-{w}.bin"), procs, n_batches, start_us, span_us) for w in range(procs)]
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        parts = pool.map(_generate_worker, jobs)
    found: list[tuple[int, Path, int, int]] = []
    for (_, path, *_rest), index in zip(jobs, parts, strict=True):
        found.extend((i, Path(path), off, length) for i, off, length in index)
    found.sort()
    return [(p, off, length) for _, p, off, length in found]


# --------------------------------------------------------------------------- (a) WAL appends


def phase_wal(data_dir: Path, batches: list[tuple[Path, int, int]], writers: int) -> dict[str, Any]:
    """`writers` threads append their share of the bodies, each append blocking until durable."""
    from lynex_box.wal.log import WalLog
    from lynex_box.wal.records import RecordHeader, RecordType, encode_payload

    settings = settings_for(data_dir)
    wal = WalLog.open(data_dir / "wal", settings.wal)
    fds = {p: os.open(p, os.O_RDONLY) for p in {b[0] for b in batches}}
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(writers + 1)

    def writer(share: list[tuple[Path, int, int]]) -> None:
        mine = []
        barrier.wait()
        for path, offset, length in share:
            body = os.pread(fds[path], length, offset)
            t = time.perf_counter()
            header = RecordHeader(PROJECT, time.time_ns() // 1000, "sdk")
            wal.append(RecordType.EVENTS, encode_payload(header, body))  # exactly what Engine.append does
            mine.append((time.perf_counter() - t) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=writer, args=(batches[w::writers],)) for w in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    commits = wal.commits
    wal.close()
    for fd in fds.values():
        os.close(fd)
    spans = len(batches) * 500
    return {
        "spans": spans,
        "writers": writers,
        "seconds": round(elapsed, 2),
        "spans_per_s": round(spans / elapsed),
        "requests_per_s": round(len(batches) / elapsed, 1),
        "group_commits": commits,
        "append_latency_ms": percentiles(latencies),
        "request_json_bytes_per_span": round(sum(b[2] for b in batches) / spans, 1),
        "wal_bytes_per_span": round(dir_bytes(data_dir / "wal", ".wal") / spans, 1),
    }


# --------------------------------------------------------------------------- (b) WAL -> segments


def child_pipeline(data_dir: Path) -> dict[str, Any]:
    """Run in a fresh process: open the engine (replays the WAL into head + segments) and flush."""
    from lynex_box.engine import Engine

    settings = settings_for(data_dir)
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    engine = Engine.open(settings)
    engine.flush()
    elapsed = time.perf_counter() - t0
    entries = engine.store.segment_entries()
    engine.close()
    spans = sum(e.row_count for e in entries)
    return {
        "spans": spans,
        "seconds": round(elapsed, 2),
        "spans_per_s": round(spans / elapsed),
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": rss_before,
        "segments": len(entries),
        "segment_bytes": sum(e.bytes for e in entries),
    }


def phase_pipeline(data_dir: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "pipeline", "--data-dir", str(data_dir)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- (d) queries over a large store


def span_pool(n_traces: int, seed: int = 5) -> tuple[Any, np.ndarray, np.ndarray]:
    """Real normalised spans of `n_traces` traces (root first): the rows the big store is drawn from."""
    import pyarrow.compute as pc

    from lynex_box.pipeline.runner import rows_to_table
    from lynex_box.sources.native.normalize import normalize_event

    wl = Workload(seed=seed, start_us=0, span_us=DAY_US, corpus_words=1_000_000)
    rows, sizes = [], []
    for k in range(n_traces):
        events = wl.trace(1_700_000_000_000_000 + k * 1000)
        sizes.append(len(events))
        rows.extend(normalize_event(e, PROJECT, 0, f"pool-{k}-{i}") for i, e in enumerate(events))
    table = rows_to_table(rows)
    sizes_np = np.array(sizes, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes_np)[:-1]])
    start_us = pc.cast(table["start_time"], "int64").to_numpy()
    end_us = pc.cast(table["end_time"], "int64").to_numpy()
    rel = np.stack([start_us - np.repeat(start_us[starts], sizes_np), end_us - np.repeat(start_us[starts], sizes_np)])
    return table, np.stack([starts, sizes_np]), rel


def synth_chunk(pool: Any, layout: np.ndarray, rel: np.ndarray, n_rows: int, t0: int, t1: int, gen: Any) -> Any:
    """About `n_rows` spans: whole pool traces with fresh ids and start times spread over [t0, t1)."""
    import pyarrow as pa

    starts, sizes = layout
    n_traces = int(n_rows / sizes.mean())
    pick = gen.integers(0, len(sizes), n_traces)
    lengths = sizes[pick]
    total = int(lengths.sum())
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    idx = np.repeat(starts[pick] - first, lengths) + np.arange(total)
    table = pool.take(pa.array(idx))
    trace_start = np.sort(gen.integers(t0, t1, n_traces))
    row_trace = np.repeat(np.arange(n_traces), lengths)
    start = trace_start[row_trace] + rel[0][idx]
    end = trace_start[row_trace] + rel[1][idx]
    hexes = gen.bytes(16 * n_traces).hex()
    trace_ids = [hexes[i : i + 32] for i in range(0, len(hexes), 32)]
    span_hex = gen.bytes(8 * total).hex()
    span_ids = [span_hex[i : i + 16] for i in range(0, len(span_hex), 16)]
    event_hex = gen.bytes(16 * total).hex()
    event_ids = [event_hex[i : i + 32] for i in range(0, len(event_hex), 32)]
    is_root = np.zeros(total, dtype=bool)
    is_root[first] = True
    parent = np.array(span_ids, dtype=object)[first][row_trace]
    ts = pa.timestamp("us", tz="UTC")
    cols = {
        "trace_id": pa.array(trace_ids).take(pa.array(row_trace)),
        "span_id": pa.array(span_ids),
        "parent_span_id": pa.array(parent, type=pa.string(), mask=is_root),
        "event_id": pa.array(event_ids),
        "start_time": pa.array(start, type=pa.int64()).cast(ts),
        "end_time": pa.array(end, type=pa.int64()).cast(ts),
        "ingested_at": pa.array(end + gen.integers(50_000, 2_000_000, total), type=pa.int64()).cast(ts),
    }
    for name, values in cols.items():
        table = table.set_column(table.schema.get_field_index(name), table.schema.field(name), values)
    return table, trace_ids


def phase_query(data_dir: Path, n_spans: int, chunk: int, repeat: int, days: int) -> dict[str, Any]:
    from lynex_box.engine import Engine
    from lynex_box.query.engine import SpanScope

    gen = np.random.default_rng(42)
    pool, layout, rel = span_pool(4000)
    t_end = 1_790_000_000_000_000
    t_start = t_end - days * DAY_US
    n_chunks = max(1, -(-n_spans // chunk))
    engine = Engine.open(settings_for(data_dir))
    sample_traces: list[str] = []
    t0 = time.perf_counter()
    rows = 0
    for k in range(n_chunks):
        lo = t_start + (t_end - t_start) * k // n_chunks
        hi = t_start + (t_end - t_start) * (k + 1) // n_chunks
        table, trace_ids = synth_chunk(pool, layout, rel, min(chunk, n_spans - rows), lo, hi, gen)
        lsn = engine.store.next_lsn
        engine.store.append(table, lsn, lsn)  # one fake WAL position per chunk: the catalog needs a range
        engine.store.flush()
        rows += table.num_rows
        sample_traces.extend(trace_ids[:: max(1, len(trace_ids) // 10)][:10])
    build_s = time.perf_counter() - t0
    engine.close()
    engine = Engine.open(settings_for(data_dir))  # a fresh process state, as after a restart
    entries = engine.store.segment_entries()
    week = SpanScope(PROJECT, start_us=t_end - 7 * DAY_US, end_us=t_end)
    cost_sql = "SELECT model, sum(total_cost) AS cost FROM spans GROUP BY model"
    trace_sql = "SELECT * FROM spans ORDER BY start_time"

    def timed(fn: Any) -> tuple[float, Any]:
        t = time.perf_counter()
        result = fn()
        return (time.perf_counter() - t) * 1000, result

    first_cost_ms, result = timed(lambda: engine.query.run(week, cost_sql))
    models = result.num_rows
    cost_ms = [timed(lambda: engine.query.run(week, cost_sql))[0] for _ in range(repeat)]
    rng = random.Random(3)
    trace_ms, trace_rows = [], []
    first_trace_ms, _ = timed(lambda: engine.query.run(SpanScope(PROJECT, trace_id=sample_traces[0]), trace_sql))
    for _ in range(repeat):
        tid = rng.choice(sample_traces)
        ms, result = timed(lambda tid=tid: engine.query.run(SpanScope(PROJECT, trace_id=tid), trace_sql, dedupe=True))
        trace_ms.append(ms)
        trace_rows.append(result.num_rows)
    files_per_trace = statistics.mean(len(engine.store.snapshot(PROJECT, trace_id=t).files) for t in sample_traces)
    engine.close()
    return {
        "spans": rows,
        "days": days,
        "segments": len(entries),
        "build": f"Arrow tables appended to SpanStore and flushed every {chunk} rows (no WAL)",
        "build_seconds": round(build_s, 1),
        "bytes_per_span_synthetic": round(sum(e.bytes for e in entries) / rows, 1),
        "cost_by_model_7d_ms": {**percentiles(cost_ms), "first": round(first_cost_ms, 1), "groups": models},
        "trace_lookup_ms": {
            **percentiles(trace_ms),
            "first": round(first_trace_ms, 1),
            "rows_min": min(trace_rows),
            "rows_max": max(trace_rows),
            "files_opened_mean": round(files_per_trace, 2),
        },
    }


# --------------------------------------------------------------------------- main


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, (op, target) in TARGETS.items():
        value = results.get(key)
        if value is None:
            continue
        ok = value >= target if op == ">=" else value < target
        out[key] = {"value": value, "target": f"{op} {target}", "pass": ok}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=2_000_000, help="spans through WAL and pipeline (a, b, c)")
    ap.add_argument("--query-spans", type=int, default=10_000_000, help="spans in the query store (d)")
    ap.add_argument("--query-chunk", type=int, default=500_000, help="rows per flushed segment when building (d)")
    ap.add_argument("--days", type=int, default=30, help="time span of the query store")
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=30, help="runs per query for p50/p95")
    ap.add_argument("--quick", action="store_true", help="200k spans, 1M-span query store, 10 repeats")
    ap.add_argument("--phases", default="wal,query", help="comma list of: wal (a, b, c), query (d)")
    ap.add_argument("--tmp", default="/tmp", help="parent of the temporary work dir")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (printed in the output)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "pipeline":
        print(json.dumps(child_pipeline(Path(args.data_dir))))
        return
    if args.quick:
        args.spans, args.query_spans, args.repeat = 200_000, 1_000_000, 10
    phases = set(args.phases.split(","))
    work = Path(tempfile.mkdtemp(prefix="lynex-bench-storage-", dir=args.tmp))
    results: dict[str, Any] = {}
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cores": os.cpu_count(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),  # the machine may be shared: read figures with it
    }
    try:
        if "wal" in phases:
            span_us = 2 * DAY_US
            t = time.perf_counter()
            batches = phase_generate(work, args.spans, 1_790_000_000_000_000 - span_us, span_us)
            report["generate_seconds"] = round(time.perf_counter() - t, 1)
            data = work / "data"
            report["a_wal_append"] = phase_wal(data, batches, args.writers)
            for path in {b[0] for b in batches}:
                path.unlink()
            report["b_pipeline"] = b = phase_pipeline(data)
            report["c_disk"] = {"bytes_per_span": round(b["segment_bytes"] / b["spans"], 1), "spans": b["spans"]}
            results["wal_append_spans_per_s"] = report["a_wal_append"]["spans_per_s"]
            results["pipeline_spans_per_s"] = b["spans_per_s"]
            results["pipeline_peak_rss_mb"] = b["peak_rss_mb"]
            results["bytes_per_span"] = report["c_disk"]["bytes_per_span"]
            shutil.rmtree(data)
        if "query" in phases:
            q = phase_query(work / "qdata", args.query_spans, args.query_chunk, args.repeat, args.days)
            report["d_query"] = q
            results["query_7d_cost_by_model_p95_ms"] = q["cost_by_model_7d_ms"]["p95"]
            results["query_trace_lookup_p95_ms"] = q["trace_lookup_ms"]["p95"]
    finally:
        if args.keep:
            report["work_dir"] = str(work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    report["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    report["targets"] = verdict(results)
    report["all_pass"] = all(v["pass"] for v in report["targets"].values())
    print(json.dumps(report))


if __name__ == "__main__":
    main()

"""The API behind every UI view over a large store: each HTTP call a view makes, timed against the real server.

Prints ONE JSON object with every call's latency (first call, p50, p95, max), its budget and pass/fail.
Never part of the test run.

    python bench/views.py                          # 10M spans over 30 days ending now, 5 runs per call
    python bench/views.py --spans 1000000 --repeat 3
    python bench/views.py --keep                   # keep the data dir (printed), then time it again:
    python bench/views.py --data-dir /tmp/lynex-bench-views-xxx/data

Steps:
  build   `lynex-box init` makes the org, project and admin; the project's store is then filled like
          bench/storage.py's query store (real normalised spans of 4,000 generated traces resampled with fresh
          ids and times into Arrow tables appended to `SpanStore` and flushed every --chunk rows; no WAL),
          over --days days ending now; each session id gets its day appended, so sessions last a day
  serve   `python -m lynex_box run` on that data dir (tests/e2e/server.py), retention 0 (keep everything)
  time    log in as the UI does (session cookie) and send every GET the views send, in the order a user meets
          them: the overview for 1h/24h/7d/30d, the traces explorer (filters, facets, the next page), a trace,
          sessions, users, the lists sorted by a column (first page with its total, page 10), prompts, alerts,
          settings; --repeat runs each after one first (cold) call
  alerts  in-process: each alert metric over a 5-minute and a 1-hour window (what the evaluator runs)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for p in (str(ROOT), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

from storage import DAY_US, percentiles, settings_for, span_pool, synth_chunk  # noqa: E402

from tests.e2e.server import RunningServer  # noqa: E402

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# The UI's range presets (lynex_box/web/ui/src/lib/timerange.ts): span and chart interval.
RANGES = {"1h": (HOUR_MS, "1m", 60_000), "24h": (DAY_MS, "15m", 900_000), "7d": (7 * DAY_MS, "2h", 2 * HOUR_MS),
          "30d": (30 * DAY_MS, "6h", 6 * HOUR_MS)}  # fmt: skip
FAST_MS, SLOW_MS = 1000, 3000  # budgets: a view's default range; 30-day ranges and full-text search


def bounds(key: str, now_ms: int) -> dict[str, Any]:
    """`rangeBounds` of the UI: [from, to) ending at now rounded up to the bucket."""
    span, interval, step = RANGES[key]
    to = -(-(now_ms + 1) // step) * step
    return {"from": to - span, "to": to, "interval": interval}


# --------------------------------------------------------------------------- build


def build(data_dir: Path, n_spans: int, chunk: int, days: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    from lynex_box.engine import Engine

    out = subprocess.run(
        [sys.executable, "-m", "lynex_box", "init", "--data-dir", str(data_dir), "--json"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    creds = json.loads(out.stdout)
    pid = creds["project_id"]
    gen = np.random.default_rng(42)
    pool, layout, rel = span_pool(4000)
    pool = pool.set_column(
        pool.schema.get_field_index("project_id"), "project_id", pa.array([pid] * pool.num_rows, pa.string())
    )
    t_end = (time.time_ns() // 1000) - 60_000_000  # a minute ago: the newest spans are in the 1-hour range
    t_start = t_end - days * DAY_US
    n_chunks = max(1, -(-n_spans // chunk))
    engine = Engine.open(settings_for(data_dir))
    t0 = time.perf_counter()
    rows = 0
    try:
        for k in range(n_chunks):
            lo = t_start + (t_end - t_start) * k // n_chunks
            hi = t_start + (t_end - t_start) * (k + 1) // n_chunks
            table, _ = synth_chunk(pool, layout, rel, min(chunk, n_spans - rows), lo, hi, gen)
            day = pc.cast(pc.divide(pc.cast(table["start_time"], pa.int64()), DAY_US), pa.string())
            sessions = pc.binary_join_element_wise(table["session_id"], day, "_d")
            table = table.set_column(table.schema.get_field_index("session_id"), "session_id", sessions)
            lsn = engine.store.next_lsn
            engine.store.append(table, lsn, lsn)  # one fake WAL position per chunk: the catalog needs a range
            engine.store.flush()
            rows += table.num_rows
        segments = len(engine.store.segment_entries())
        seg_bytes = sum(e.bytes for e in engine.store.segment_entries())
    finally:
        engine.close()
    (data_dir / "bench-views.json").write_text(json.dumps({**creds, "spans": rows, "t_end_us": t_end}))
    return {"spans": rows, "days": days, "segments": segments, "segment_bytes": seg_bytes,
            "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


# --------------------------------------------------------------------------- calls


class Timer:
    def __init__(self, client: httpx.Client, repeat: int) -> None:
        self.client = client
        self.repeat = repeat
        self.results: list[dict[str, Any]] = []

    def get(self, view: str, label: str, path: str, params: dict[str, Any] | None = None, budget: int = FAST_MS) -> Any:
        """GET `repeat + 1` times; the first is reported apart (cold caches). Returns the last JSON answer."""
        times = []
        body: Any = None
        error = None
        for _ in range(self.repeat + 1):
            t = time.perf_counter()
            r = self.client.get(path, params={k: v for k, v in (params or {}).items() if v not in (None, "")})
            times.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:  # reported, and the call is not repeated
                error = f"{r.status_code} {r.text[:200]}"
                break
            body = r.json()
        stats = percentiles(times[1:] or times)
        items = body.get("items") if isinstance(body, dict) else None
        self.results.append({
            "view": view, "call": label, "first_ms": round(times[0], 1), **stats, "budget_ms": budget,
            "pass": error is None and stats["p95"] < budget, "items": len(items) if isinstance(items, list) else None,
            **({"error": error} if error else {}),
        })  # fmt: skip
        return body


def overview(t: Timer, pid: str, now_ms: int) -> None:
    for key in RANGES:
        b = bounds(key, now_ms)
        budget = FAST_MS if key in ("1h", "24h") else SLOW_MS
        base = {"from": b["from"], "to": b["to"]}
        path = f"/v1/projects/{pid}/metrics"
        view = f"overview {key}"
        llm = {**base, "latency_kind": "llm_call"}  # the overview's latency is of LLM calls by default
        t.get(view, "totals", path, llm, budget)
        t.get(view, f"series interval={b['interval']}", path, {**llm, "interval": b["interval"]}, budget)
        for dim in ("model", "provider", "name", "environment"):
            t.get(
                view, f"breakdown group_by={dim}", path, {**llm, "group_by": dim, "top": 12, "top_by": "count"}, budget
            )
        for dim in ("environment", "tag", "model", "prompt_name"):  # the filters' choices
            t.get(view, f"filter choices {dim}", path, {**base, "group_by": dim, "top": 50, "top_by": "count"}, budget)
        t.get(view, "latency kinds", path, {**base, "group_by": "kind"}, budget)
        t.get(view, "filtered totals model=gpt-4o", path, {**llm, "model": "gpt-4o"}, budget)
        for dim in ("user_id", "session_id", "prompt_name"):
            t.get(view, f"top {dim}", path, {**base, "group_by": dim, "top": 6}, budget)


def traces(t: Timer, pid: str, now_ms: int, key: str, row: dict[str, Any]) -> None:
    """The explorer at one range: first page, facets, each filter, the next page; `row` is a trace to filter by."""
    b = bounds(key, now_ms)
    base = {"from": b["from"], "to": b["to"]}
    budget = FAST_MS if key == "24h" else SLOW_MS
    view = f"traces {key}"
    path = f"/v1/projects/{pid}/traces"
    first = t.get(view, "first page", path, {**base, "limit": 100}, budget)
    for dim in ("model", "name", "environment", "provider"):
        t.get(
            view,
            f"facet {dim}",
            f"/v1/projects/{pid}/metrics",
            {**base, "group_by": dim, "top": 8, "top_by": "count"},
            budget,
        )
    if first is not None:
        t.get(view, "next page (cursor)", path, {**base, "limit": 100, "cursor": first["next_cursor"]}, budget)
    filters = [
        ("name=support-agent", {"name": "support-agent"}),
        ("name=run_sql", {"name": "run_sql"}),
        ("model=gpt-4o", {"model": "gpt-4o"}),
        ("status=error", {"status": "error"}),
        ("kind=retriever", {"kind": "retriever"}),
        ("user_id", {"user_id": row["user_id"]}),
        ("session_id", {"session_id": row["session_id"]}),
        ("tag=doc-qa", {"tag": "doc-qa"}),
        ("min_cost=0.003", {"min_cost": 0.003}),
        ("max_cost=0.0001", {"max_cost": 0.0001}),
        ("min_duration_ms=5500", {"min_duration_ms": 5500}),
        ("max_duration_ms=10", {"max_duration_ms": 10}),
        ("model+status=error (no match)", {"model": "claude-3-5-sonnet", "status": "error"}),
    ]
    for label, f in filters:
        t.get(view, f"filter {label}", path, {**base, **f, "limit": 100}, budget)
        if label == "model=gpt-4o":
            t.get(view, "filter model=gpt-4o facet name", f"/v1/projects/{pid}/metrics",
                  {**base, **f, "group_by": "name", "top": 8, "top_by": "count"}, budget)  # fmt: skip
    for label, q in (("common word", "refund"), ("rare word", "zqxvj")):
        t.get(view, f"q {label}", path, {**base, "q": q, "limit": 100}, SLOW_MS)
        t.get(view, f"q {label} facet model", f"/v1/projects/{pid}/metrics",
              {**base, "q": q, "group_by": "model", "top": 8, "top_by": "count"}, SLOW_MS)  # fmt: skip


def trace_view(t: Timer, pid: str, trace_id: str) -> None:
    base = f"/v1/projects/{pid}/traces/{trace_id}"
    outline = t.get("trace", "outline", f"{base}/outline")
    t.get("trace", "scores", f"/v1/projects/{pid}/scores", {"trace_id": trace_id, "limit": 200})
    if outline is not None:
        t.get("trace", "one span", f"{base}/spans/{outline['spans'][-1]['span_id']}")
    t.get("trace", "whole trace (API)", base)


def sessions_users(t: Timer, pid: str, now_ms: int, row: dict[str, Any]) -> None:
    b7 = bounds("7d", now_ms)
    sessions = t.get(
        "sessions", "list 7d", f"/v1/projects/{pid}/sessions", {"from": b7["from"], "to": b7["to"], "limit": 100}
    )
    if sessions is not None:
        t.get("sessions", "list 7d next page", f"/v1/projects/{pid}/sessions",
              {"from": b7["from"], "to": b7["to"], "limit": 100, "cursor": sessions["next_cursor"]})  # fmt: skip
        row = sessions["items"][0]
    sid, user = row["session_id"], row["user_id"]
    t.get(
        "sessions",
        "list 7d user_id",
        f"/v1/projects/{pid}/sessions",
        {"from": b7["from"], "to": b7["to"], "limit": 100, "user_id": user},
    )
    b30 = bounds("30d", now_ms)
    rng = {"from": b30["from"], "to": b30["to"]}
    t.get("session", "traces 30d", f"/v1/projects/{pid}/traces", {**rng, "session_id": sid, "limit": 500}, SLOW_MS)
    t.get(
        "session",
        "llm spans 30d",
        f"/v1/projects/{pid}/spans",
        {**rng, "session_id": sid, "kind": "llm", "limit": 200},
        SLOW_MS,
    )
    users = t.get("users", "list 7d", f"/v1/projects/{pid}/users", {"from": b7["from"], "to": b7["to"], "limit": 100})
    if users is not None:
        t.get("users", "list 7d next page", f"/v1/projects/{pid}/users",
              {"from": b7["from"], "to": b7["to"], "limit": 100, "cursor": users["next_cursor"]})  # fmt: skip
    t.get("users", "list 30d", f"/v1/projects/{pid}/users", {**rng, "limit": 100}, SLOW_MS)


def sorted_lists(t: Timer, pid: str, now_ms: int) -> None:
    """The lists sorted by a column (whole-range aggregates): a first page, and a deep page `DEEP` pages in (the
    pages before it walked untimed); and the trace-counting facets."""
    for key in ("24h", "30d"):
        b = bounds(key, now_ms)
        rng = {"from": b["from"], "to": b["to"]}
        budget = FAST_MS if key == "24h" else SLOW_MS
        for column in ("cost", "duration", "tokens", "name"):
            _sorted(t, f"traces {key}", f"/v1/projects/{pid}/traces", {**rng, "sort": column}, budget)
        t.get(f"traces {key}", "sort=time order=asc", f"/v1/projects/{pid}/traces", {**rng, "sort": "time",
              "order": "asc", "limit": 100}, budget)  # fmt: skip
        for dim in ("model", "name"):
            t.get(f"traces {key}", f"trace-facets {dim}", f"/v1/projects/{pid}/trace-facets",
                  {**rng, "group_by": dim, "top": 8}, budget)  # fmt: skip
    for key in ("7d", "30d"):
        b = bounds(key, now_ms)
        rng = {"from": b["from"], "to": b["to"]}
        budget = FAST_MS if key == "7d" else SLOW_MS
        for path, columns in (("sessions", ("cost", "traces")), ("users", ("cost", "error_rate"))):
            for column in columns:
                _sorted(t, f"{path} {key}", f"/v1/projects/{pid}/{path}", {**rng, "sort": column}, budget)


DEEP = 10  # the deep page's number


def _sorted(t: Timer, view: str, path: str, params: dict[str, Any], budget: int) -> None:
    label = f"sort={params['sort']}"
    first = t.get(view, f"{label} first page (+total)", path, {**params, "limit": 100}, budget)
    cursor = first.get("next_cursor") if first else None
    for _ in range(DEEP - 2):
        if not cursor:
            return
        cursor = t.client.get(path, params={**params, "limit": 100, "cursor": cursor}).json().get("next_cursor")
    if cursor:
        t.get(view, f"{label} page {DEEP} (cursor)", path, {**params, "limit": 100, "cursor": cursor}, budget)


def prompts(t: Timer, pid: str, now_ms: int) -> None:
    b = bounds("30d", now_ms)
    rng = {"from": b["from"], "to": b["to"]}
    listing = t.get("prompts", "list 30d", f"/v1/projects/{pid}/prompts", rng, SLOW_MS)
    name = listing["items"][0]["name"] if listing else "support-agent-system"
    t.get("prompts", "versions 30d", f"/v1/projects/{pid}/prompts/{name}/versions", rng, SLOW_MS)


def admin(t: Timer, pid: str, org_id: str, now_ms: int) -> None:
    a = f"/api/projects/{pid}"
    t.get("alerts", "rules", f"{a}/alerts/rules")
    t.get("alerts", "firings", f"{a}/alerts/firings", {"limit": 20})
    t.get("alerts", "deliveries", f"{a}/alerts/deliveries", {"limit": 20})
    t.get("settings", "keys", f"{a}/keys")
    t.get("settings", "settings", f"{a}/settings")
    t.get("settings", "members", f"{a}/members")
    t.get("settings", "audit", f"{a}/audit", {"limit": 100})
    t.get("settings", "prices", f"/v1/projects/{pid}/prices")
    t.get("settings", "usage 30d (API)", f"{a}/usage", None, SLOW_MS)
    t.get("get started", "any trace in the last hour", f"/v1/projects/{pid}/traces",
          {"from": now_ms - HOUR_MS, "limit": 1})  # fmt: skip


def alert_metrics(data_dir: Path, pid: str, repeat: int) -> list[dict[str, Any]]:
    """The evaluator's query per metric (QueryEngine.run over [now - window, now)), in this process."""
    from lynex_box.alerts.metrics import EXPRESSIONS, metric_sql
    from lynex_box.engine import Engine
    from lynex_box.query.engine import SpanScope

    engine = Engine.open(settings_for(data_dir))
    out = []
    try:
        now = time.time_ns() // 1000
        for window_s in (300, 3600):
            for metric in EXPRESSIONS:
                sql, params = metric_sql(metric, {"model": "gpt-4o"} if metric == "p95_latency_ms" else {})
                scope = SpanScope(pid, now - window_s * 1_000_000, now)
                times = []
                for _ in range(repeat + 1):
                    t = time.perf_counter()
                    engine.query.run(scope, sql, params)
                    times.append((time.perf_counter() - t) * 1000)
                stats = percentiles(times[1:] or times)
                out.append({"view": "alerts (evaluator, in-process)", "call": f"{metric} {window_s}s",
                            "first_ms": round(times[0], 1), **stats, "budget_ms": FAST_MS,
                            "pass": stats["p95"] < FAST_MS, "items": None})  # fmt: skip
    finally:
        engine.close()
    return out


def time_views(data_dir: Path, repeat: int, only: set[str] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    meta = json.loads((data_dir / "bench-views.json").read_text())
    pid = meta["project_id"]
    server = RunningServer(data_dir)
    server.creds = meta  # `init` printed them; the server prints nothing to wait for
    server.start(timeout=120)
    info: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            r = client.post("/api/auth/login", json={"email": meta["admin_email"], "password": meta["admin_password"]})
            r.raise_for_status()
            if r.json()["user"].get("must_change_password"):  # `init` printed it: replace it once, as the UI asks
                new = meta["admin_password"] + "-chosen"
                body = {"current_password": meta["admin_password"], "new_password": new}
                client.post("/api/auth/password", json=body, headers={"X-CSRF-Token": r.json()["csrf_token"]})
                meta["admin_password"] = new
                (data_dir / "bench-views.json").write_text(json.dumps(meta))
                r = client.post("/api/auth/login", json={"email": meta["admin_email"], "password": new})
                r.raise_for_status()
            me = client.get("/api/auth/me").json()
            org_id = next(iter(me.get("orgs") or [{}]), {}).get("id", "")
            t = Timer(client, repeat)
            now_ms = time.time_ns() // 1_000_000
            want = only or {"overview", "traces", "trace", "sessions", "sorting", "prompts", "admin"}
            # A trace to open and filter by: the newest one (not timed).
            sample = client.get(f"/v1/projects/{pid}/traces", params={"from": now_ms - HOUR_MS, "limit": 1})
            row = sample.json()["items"][0]
            info["sample_trace_span_count"] = row.get("span_count")
            if "overview" in want:
                overview(t, pid, now_ms)
            if "traces" in want:
                traces(t, pid, now_ms, "24h", row)
                traces(t, pid, now_ms, "30d", row)
            if "trace" in want:
                trace_view(t, pid, row["trace_id"])
            if "sessions" in want:
                sessions_users(t, pid, now_ms, row)
            if "sorting" in want:
                sorted_lists(t, pid, now_ms)
            if "prompts" in want:
                prompts(t, pid, now_ms)
            if "admin" in want:
                admin(t, pid, org_id, now_ms)
        rss = Path(f"/proc/{server.proc.pid}/status").read_text() if server.proc else ""
        for line in rss.splitlines():
            if line.startswith(("VmHWM", "VmRSS")):
                info[line.split(":")[0].lower() + "_mb"] = round(int(line.split()[1]) / 1024, 1)
    finally:
        server.stop()
    return t.results, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=500_000, help="rows per flushed segment when building")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per call after the first")
    ap.add_argument("--data-dir", help="time an existing store built by this script (no build, kept)")
    ap.add_argument("--only", help="comma list of: overview, traces, trace, sessions, sorting, prompts, admin, alerts")
    ap.add_argument("--tmp", default="/tmp", help="parent of the temporary work dir")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (printed in the output)")
    args = ap.parse_args()
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cores": os.cpu_count(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),  # the machine may be shared: read figures with it
    }
    only = set(args.only.split(",")) if args.only else None
    work = None
    if args.data_dir:
        data_dir = Path(args.data_dir)
    else:
        work = Path(tempfile.mkdtemp(prefix="lynex-bench-views-", dir=args.tmp))
        data_dir = work / "data"
    try:
        if work is not None:
            report["build"] = build(data_dir, args.spans, args.chunk, args.days)
        report["spans"] = json.loads((data_dir / "bench-views.json").read_text())["spans"]
        results: list[dict[str, Any]] = []
        if only is None or only - {"alerts"}:
            results, report["server"] = time_views(data_dir, args.repeat, only)
        if only is None or "alerts" in only:
            pid = json.loads((data_dir / "bench-views.json").read_text())["project_id"]
            results += alert_metrics(data_dir, pid, args.repeat)
        report["calls"] = results
        report["failed"] = [f"{r['view']}: {r['call']} p95 {r['p95']} ms" for r in results if not r["pass"]]
        report["all_pass"] = not report["failed"]
    finally:
        if work is not None and args.keep:
            report["data_dir"] = str(data_dir)
        elif work is not None:
            shutil.rmtree(work, ignore_errors=True)
    report["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

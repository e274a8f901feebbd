"""What #20's parts cost ingest: bench/ingest.py against servers configured differently, interleaved in one session.

Issue #20 asks that a plugin not slow ingest by more than 10%. This runs bench/ingest.py once per configuration per
round, the configurations interleaved (a load change on a shared machine then hits each of them alike), and prints
one JSON object: each run's accepted and queryable spans/s and the server's CPU time per span, each configuration's
median, and its ratio to the first configuration (`bare`: `[metrics] enabled = false`, no plugin). On a shared
machine the rates move with other work; the CPU per span moves much less (a ratio above 1 there is a cost).

    python bench/plugin_overhead.py                          # 3 rounds of 100k spans per configuration
    python bench/plugin_overhead.py --rounds 5 --spans 200000 --configs bare,subscriber

Configurations: `bare`; `metrics` (the defaults: /metrics and its request counters on, no plugin); `subscriber`
(the defaults and an in-process plugin subscribed to span_batch_stored that counts what it gets); `enrich` (the
defaults and a plugin whose `lynex_enrich_spans` fills `environment` where it is null, with a column kernel, and
whose detector answers null scores: the cost of the hooks' calls, checks and merge). The plugins live in a throwaway package (an entry point in a
`.dist-info` on the server's PYTHONPATH), as tests/plugins does it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = """
from lynex_box.plugins.hookspecs import hookimpl

class Counter:
    seen = 0

    @hookimpl
    def lynex_span_batch_stored(self, event):
        Counter.seen += event["count"]

import pyarrow as pa
import pyarrow.compute as pc

class Zero:
    name = "bench-zero"

    def detect(self, table):
        return pa.nulls(table.num_rows, pa.float64())  # an opinion on no span: the merge still runs

class Enrich:
    @hookimpl
    def lynex_enrich_spans(self, table):
        column = table.schema.get_field_index("environment")
        return table.set_column(column, "environment", pc.fill_null(table.column(column), "bench"))

    @hookimpl
    def lynex_detectors(self):
        return [Zero()]

counter, enrich = Counter(), Enrich()
"""
ENTRY_POINTS = (
    "[lynex_box.plugins]\nbench-counter = lynex_bench_plugins:counter\nbench-enrich = lynex_bench_plugins:enrich\n"
)
CONFIGS: dict[str, tuple[dict[str, str], str]] = {  # name -> (environment, lynex.toml)
    "bare": ({"LYNEX_METRICS_ENABLED": "false"}, ""),
    "metrics": ({}, ""),
    "subscriber": ({}, '[plugins]\nenabled = ["bench-counter"]\n'),
    "enrich": ({}, '[plugins]\nenabled = ["bench-enrich"]\n'),
}


def install_plugins(root: Path) -> None:
    (root / "lynex_bench_plugins.py").write_text(PLUGINS)
    info = root / "lynex_bench_plugins-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lynex-bench-plugins\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)


def run_once(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    extra, toml = CONFIGS[name]
    config = work / f"{name}.toml"
    config.write_text(toml)
    env = {**os.environ, **extra, "LYNEX_CONFIG": str(config)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(work / "pkg"), str(ROOT), os.environ.get("PYTHONPATH")) if p)
    cmd = [sys.executable, str(ROOT / "bench" / "ingest.py"), "--spans", str(args.spans)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    found = json.loads(out[out.index("{") :])
    return {"accepted": found["accepted_spans_per_s"], "queryable": found["queryable_spans_per_s"],
            "cpu_us_per_span": found["server_cpu_us_per_span"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--configs", default="bare,metrics,subscriber,enrich")
    args = ap.parse_args()
    names = args.configs.split(",")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="lynex-plugin-bench-") as tmp:
        work = Path(tmp)
        (work / "pkg").mkdir()
        install_plugins(work / "pkg")
        for _ in range(args.rounds):
            for name in names:
                runs[name].append(run_once(name, work, args))
    load.append(os.getloadavg()[0])
    keys = ("accepted", "queryable", "cpu_us_per_span")
    medians = {n: {k: statistics.median(r[k] for r in rs) for k in keys} for n, rs in runs.items()}
    base = medians[names[0]]
    ratios = {n: {k: round(m[k] / base[k], 3) for k in m} for n, m in medians.items()}
    print(json.dumps({"spans": args.spans, "rounds": args.rounds, "load_avg_start_end": load, "runs": runs,
                      "medians": medians, f"ratio_to_{names[0]}": ratios}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()

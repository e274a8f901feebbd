"""Stored bytes per span with raw-text sampling: the same spans sent to a real `lynex-box run` with `sample_text`
1.0 and 0.1, flushed to segments by a clean stop, then the Parquet bytes on disk divided by the spans stored.

Prints one JSON object: bytes per span at each fraction, their ratio, and the share of traces that kept their text.

    python bench/sampling.py                # 20k spans per run (about half a minute)
    python bench/sampling.py --spans 100000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.ingest import template_batch
from tests.e2e.server import RunningServer

BATCH = 500


def run(fraction: float, spans: int, work: Path) -> dict[str, Any]:
    server = RunningServer(work / f"data-{fraction}").start()
    try:
        settings = f"{server.url}/api/projects/{server.project}/settings"
        r = httpx.patch(settings, json={"sample_text": fraction}, headers=server.headers())
        r.raise_for_status()
        url = f"{server.url}/v1/projects/{server.project}/events"
        for n in range(spans // BATCH):  # texts differ batch to batch (a seed each), as real prompts do
            body = template_batch(BATCH, seed=n).decode().replace("BATCHNO", f"{n:07d}")
            httpx.post(url, content=body, headers={**server.headers(), "Content-Type": "application/json"},
                       timeout=60).raise_for_status()  # fmt: skip
        metrics = f"{server.url}/v1/projects/{server.project}/metrics"
        deadline = time.monotonic() + 120
        count = 0
        while time.monotonic() < deadline:
            series = httpx.get(metrics, headers=server.headers(), params={"from": 0}).json()["series"]
            count = sum(p["count"] for s in series for p in s["points"])
            if count >= spans:
                break
            time.sleep(0.2)
        sql = f"{server.url}/v1/projects/{server.project}/spans"
        sampled = httpx.get(sql, headers=server.headers(), params={"limit": 1000, "kind": "llm"}).json()["items"]
        kept = sum(1 for s in sampled if not s.get("text_sampled_out"))
    finally:
        server.stop(timeout=120)  # the final flush writes the head to segments
    stored = sum(p.stat().st_size for p in (work / f"data-{fraction}" / "segments").rglob("*.parquet"))
    return {"spans": count, "segment_bytes": stored, "bytes_per_span": round(stored / max(count, 1), 1),
            "llm_spans_with_text_in_sample": f"{kept}/{len(sampled)}"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lynex-bench-sampling-") as tmp:
        full = run(1.0, args.spans, Path(tmp))
        tenth = run(0.1, args.spans, Path(tmp))
    ratio = tenth["bytes_per_span"] / full["bytes_per_span"]
    print(json.dumps({"sample_text_1.0": full, "sample_text_0.1": tenth, "bytes_ratio_0.1_to_1.0": round(ratio, 3)}))


if __name__ == "__main__":
    main()

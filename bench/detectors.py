"""Precision and recall of each hallucination-risk and quality detector of the `detectors` plugin
(plugins/lynex-detectors) over its labelled set (plugins/lynex-detectors/tests/data/labelled.jsonl), calling the
detectors directly, no server. Prints one JSON object: per detector and per reason code `precision`, `recall`,
true/false positives and false negatives, and the cases where the codes found differ from the expected ones; under
`heldout`, the same for the held-out set (tests/data/heldout.jsonl: cases written after the detectors were tuned,
never used to tune them), which says more about how they do on data they were not fitted to.

`cpu_us_per_llm_span`: the detectors' own CPU time (time.process_time, best of `--repeat` runs) per LLM span on a
batch of the spans `bench/ingest.py` sends (2,000 spans, about 770 of them LLM calls with 1-3 KB of prompt and
answer), normalised by the native decoder as the pipeline does; `cpu_us_per_llm_span_by_batch` adds the batch of
`bench/otlp.py`'s spans (OTel GenAI and OpenInference through the OTLP mapper) and the labelled set's cases (short,
and nearly all of them flagged: the Python detectors run on most), each also through the per-span reference
(`analyse_rows`, what the pipeline ran before the columnar path).
Needs the plugin installed (`pip install -e plugins/lynex-detectors`) or its src/ on the path.

    python bench/detectors.py
    python bench/detectors.py --labelled other.jsonl --threshold 0.5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))  # ingest.py, otlp.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "lynex-detectors" / "src"))
from lynex_detectors.batch import analyse, analyse_rows
from lynex_detectors.evaluate import HELDOUT, LABELLED, evaluate, load, table_of
from lynex_detectors.settings import Settings, validate

from lynex_box.schema.span import LLM_CALL_KINDS, spans_to_table


def ingest_batch() -> pa.Table:
    """2,000 spans as bench/ingest.py sends them, normalised as the native decoder does."""
    from ingest import template_batch

    from lynex_box.sources.native.normalize import normalize_events

    events = orjson.loads(template_batch(2000, 1))["events"]
    return spans_to_table(normalize_events(events, "bench", 0, lambda i: f"e{i}", frozenset()))


def otlp_batch() -> pa.Table:
    """2,000 spans as bench/otlp.py sends them, mapped as the OTLP decoder does."""
    from otlp import template_batch

    from lynex_box.sources.otlp.decode import decode_traces_protobuf
    from lynex_box.sources.otlp.decoder import map_columns

    spans = decode_traces_protobuf(template_batch(2000, 1))
    columns: dict[str, Any] = map_columns(spans, in_time_order=True).columns
    columns.pop("_cache_write_tokens", None)
    columns.update(project_id=["bench"] * len(spans), ingested_at=[0] * len(spans))
    return spans_to_table(columns)


def cpu_us_per_llm_span(fn: Callable[[pa.Table, Settings], Any], table: pa.Table, s: Settings, repeat: int) -> float:
    llm = pc.sum(pc.is_in(table.column("kind"), value_set=pa.array(LLM_CALL_KINDS))).as_py()
    fn(table, s)  # warm
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        fn(table, s)
        best = min(best, time.process_time() - started)
    return round(best * 1e6 / llm, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labelled", type=Path, default=LABELLED, help="JSON lines of labelled cases")
    parser.add_argument("--threshold", type=float, default=None, help="[plugins.detectors] threshold")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per batch (the best is kept)")
    args = parser.parse_args()
    config = {} if args.threshold is None else {"threshold": args.threshold}
    settings = validate(config)
    report = evaluate(load(args.labelled), settings)
    report["heldout"] = evaluate(load(HELDOUT), settings)
    batches = {"bench_ingest": ingest_batch(), "bench_otlp": otlp_batch(), "labelled": table_of(load(args.labelled))[0]}
    by_batch = {
        name: {"columnar": cpu_us_per_llm_span(analyse, table, settings, args.repeat),
               "per_span_reference": cpu_us_per_llm_span(analyse_rows, table, settings, args.repeat)}
        for name, table in batches.items()
    }  # fmt: skip
    report["cpu_us_per_llm_span"] = by_batch["bench_ingest"]["columnar"]
    report["cpu_us_per_llm_span_by_batch"] = by_batch
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""PII stage cost per span, beside the decode cost of the same spans, in one process (a steadier figure than the
end-to-end benches on a shared box, where the load of other processes moves the spans/s by ±40%).

Decodes the request templates of bench/ingest.py (native JSON) and bench/otlp.py (OTLP protobuf) with the real
decoders, then times the PII stage (`lynex_box/pii/stage.py`) on the decoded tables in `detect` and `redact`
mode, with no PII in the texts and with PII (an e-mail, a card number and a phone number) added to the input of
`--share` of the spans; and the request path's redaction (`[pii] redact_in_request`) of the same bodies.
Prints one JSON object (µs per span, best of `--repeat`).

    python bench/pii.py
    python bench/pii.py --share 0.5 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest
import otlp

from lynex_box.config import PiiSettings
from lynex_box.pii.policy import PiiPolicy
from lynex_box.pii.request import redact_request
from lynex_box.pii.scanner import Scanner
from lynex_box.pii.stage import PiiStage
from lynex_box.schema.span import spans_to_table
from lynex_box.sources.native.batch import NativeBatchDecoder
from lynex_box.sources.otlp.decoder import decode_otlp_traces
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import PROTOBUF, RecordHeader, RecordType

PII = " please mail jane.doe@example.com, card 4111 1111 1111 1111, call +1 415-555-0142"


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def with_pii(table: pa.Table, share: float) -> pa.Table:
    """`share` of the spans get PII appended to their input."""
    if share <= 0:
        return table
    step = max(1, round(1 / share))
    column = table.column("input").combine_chunks()
    values = column.to_pylist()
    for i in range(0, len(values), step):
        values[i] = (values[i] or "") + PII
    return table.set_column(table.schema.get_field_index("input"), "input", pa.array(values, pa.string()))


def native(batches: int) -> tuple[pa.Table, list[bytes]]:
    bodies = [ingest.template_batch(500, seed).replace(b"BATCHNO", f"b{seed:06d}".encode()) for seed in range(batches)]
    header = RecordHeader("p1", 1_795_000_000_000_000, "sdk")
    items = [(WalRecord(lsn=i + 1, type=1, payload=b""), header, memoryview(b)) for i, b in enumerate(bodies)]
    return NativeBatchDecoder()(items), bodies


def otlp_spans(batches: int) -> tuple[pa.Table, list[bytes]]:
    bodies = [otlp.template_batch(500, seed) for seed in range(batches)]
    header = RecordHeader("p1", 1_795_000_000_000_000, "otlp", (), PROTOBUF)
    tables = []
    for i, body in enumerate(bodies):
        cols = decode_otlp_traces(WalRecord(lsn=i + 1, type=2, payload=b""), header, memoryview(body))
        tables.append(cols if isinstance(cols, pa.Table) else spans_to_table(cols))
    return pa.concat_tables(tables), bodies


def measure(
    name: str, build: Callable[[int], tuple[pa.Table, list[bytes]]], args: argparse.Namespace
) -> dict[str, Any]:
    start = time.perf_counter()
    table, bodies = build(args.batches)
    n = table.num_rows
    out: dict[str, Any] = {"spans": n, "decode_us_per_span": round((time.perf_counter() - start) / n * 1e6, 1)}
    for share in (0.0, args.share):
        sample = with_pii(table, share)
        for mode in ("detect", "redact"):
            stage = PiiStage(PiiSettings(default_mode=mode))
            result = stage.enrich_table(sample)
            found = pc.sum(pc.is_valid(result.column("pii"))).as_py()
            took = best(lambda stage=stage, sample=sample: stage.enrich_table(sample), args.repeat)
            out[f"stage_{mode}_share_{share}_us_per_span"] = round(took / n * 1e6, 2)
            out[f"spans_flagged_share_{share}"] = found
    scanner = Scanner(PiiPolicy("redact"), padded_masks=True)
    kind = RecordType.EVENTS if name == "native" else RecordType.OTLP_TRACES
    header = RecordHeader("p1", 0, "sdk") if name == "native" else RecordHeader("p1", 0, "otlp", (), PROTOBUF)
    took = best(lambda: [redact_request(scanner, kind, header, body) for body in bodies], args.repeat)
    out["request_redact_us_per_span_no_pii"] = round(took / n * 1e6, 2)
    if name == "native":
        dirty = [b.replace(b'"content": "', b'"content": "jane.doe@example.com ', 1) for b in bodies]
        took = best(lambda: [redact_request(scanner, kind, header, body) for body in dirty], args.repeat)
        out["request_redact_us_per_span_with_pii"] = round(took / n * 1e6, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=8, help="500-span request templates per source")
    ap.add_argument("--share", type=float, default=0.1, help="share of spans given PII in the second run")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(json.dumps({"native": measure("native", native, args), "otlp": measure("otlp", otlp_spans, args)}, indent=2))


if __name__ == "__main__":
    main()

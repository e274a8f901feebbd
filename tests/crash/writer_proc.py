"""A real writer process for crash tests: 4 threads append batches, a pipeline thread flushes often.

It prints `ACK <batch>` after each append returned (the moment the server would answer 202), so the
parent knows which events must survive. The parent (or a crash point) kills it with SIGKILL.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from pathlib import Path

import orjson

from lynex_box.config import load_settings
from lynex_box.engine import Engine
from lynex_box.wal.records import RecordHeader, RecordType

WORDS = [
    "the",
    "model",
    "answered",
    "quickly",
    "with",
    "a",
    "long",
    "and",
    "detailed",
    "explanation",
    "of",
    "tokens",
    "cost",
    "latency",
]


def batch_body(name: str, size: int, rng: random.Random) -> bytes:
    return orjson.dumps(
        {
            "events": [
                {
                    "event_id": f"{name}-{i}",
                    "trace_id": name,
                    "span_id": f"s{i}",
                    "type": "llm",
                    "model": "gpt-4o",
                    "start_time": 1_790_000_000_000 + rng.randrange(10**6),
                    "input": " ".join(rng.choice(WORDS) for _ in range(120)) + os.urandom(300).hex(),
                    "usage": {"input_tokens": 10, "output_tokens": 3},
                }
                for i in range(size)
            ]
        }
    )


def open_engine(data_dir: Path, **overrides: dict[str, object]) -> Engine:
    """The engine a crash process drives: small head and WAL files, so flushes and file switches happen often."""
    settings = load_settings(
        env={},
        overrides={
            "server": {"data_dir": str(data_dir)},
            "head": {"max_rows": 100, "max_age_s": 0.2},
            "wal": {"segment_bytes": 65536},
            **overrides,
        },
    )
    return Engine.open(settings)


def run_pipeline(engine: Engine, stop: threading.Event) -> None:
    """The pipeline and flusher, in a loop until `stop`."""
    while not stop.is_set():
        engine.catch_up()
        if engine.store.flush_due():
            engine.store.flush()
        time.sleep(0.005)


def main() -> None:
    data_dir, batches = Path(sys.argv[1]), int(sys.argv[2])
    engine = open_engine(data_dir)
    stop = threading.Event()
    out_lock = threading.Lock()

    def pipeline() -> None:
        run_pipeline(engine, stop)

    def writer(worker: int) -> None:
        rng = random.Random(worker)
        for k in range(batches):
            name = f"w{worker}b{k}"
            engine.append(
                RecordType.EVENTS, RecordHeader("p1", time.time_ns() // 1000, "sdk"), batch_body(name, 20, rng)
            )
            with out_lock:
                sys.stdout.write(f"ACK {name}\n")
                sys.stdout.flush()

    flusher = threading.Thread(target=pipeline, daemon=True)
    flusher.start()
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    flusher.join()
    engine.close()
    sys.stdout.write("DONE\n")


if __name__ == "__main__":
    main()

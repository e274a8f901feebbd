"""A real process appending SCORES records for crash tests, beside spans, with the pipeline applying them.

Two threads append records of `PER_RECORD` scores each (ids `w<worker>b<k>-<i>`, value k + i) and one thread appends
span batches, so the head fills, flushes and the WAL checkpoint moves. `ACK w<worker>b<k>` is printed once an append
returned (the record is durable: the moment a score route may answer), so the parent knows which scores must
survive. The parent (or a crash point) kills it with SIGKILL.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from pathlib import Path

from lynex_box.scores import encode_scores, parse_score
from lynex_box.wal.records import RecordHeader, RecordType
from tests.crash.writer_proc import batch_body, open_engine, run_pipeline

PER_RECORD = 5


def main() -> None:
    data_dir, project, records = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    engine = open_engine(data_dir, retention={"days": 0})
    stop = threading.Event()
    out_lock = threading.Lock()

    def pipeline() -> None:
        run_pipeline(engine, stop)

    def scorer(worker: int) -> None:
        for k in range(records):
            name = f"w{worker}b{k}"
            scores = [
                parse_score({"id": f"{name}-{i}", "trace_id": name, "name": "quality", "value": k + i})
                for i in range(PER_RECORD)
            ]
            header = RecordHeader(project, time.time_ns() // 1000, "sdk")
            engine.append(RecordType.SCORES, header, encode_scores(scores))
            with out_lock:
                sys.stdout.write(f"ACK {name}\n")
                sys.stdout.flush()

    def spans() -> None:
        rng = random.Random(7)
        for k in range(records):
            header = RecordHeader(project, time.time_ns() // 1000, "sdk")
            engine.append(RecordType.EVENTS, header, batch_body(f"e{k}", 20, rng))

    threads = [threading.Thread(target=scorer, args=(w,)) for w in range(2)] + [threading.Thread(target=spans)]
    flusher = threading.Thread(target=pipeline, daemon=True)
    flusher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    flusher.join()
    engine.close()
    sys.stdout.write("DONE\n")


if __name__ == "__main__":
    main()

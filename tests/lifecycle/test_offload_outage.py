"""The S3 server dies in the middle of an offload: nothing is lost, and the offload completes once it is back.

The real moto server is SIGKILLed while a segment's bytes are on the wire: during the (multipart) upload, or
during the read-back that verifies it. A slow proxy between the engine and moto keeps the transfer in flight
long enough. moto keeps its buckets in a state file across the kill (moto_on_port.py), as a real store keeps
them through an outage; the earlier offloaded segment must still be there when it returns.
"""

from __future__ import annotations

import base64
import random
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from lynex_box.lifecycle.bucket import file_sha256
from lynex_box.lifecycle.janitor import sweep_bucket
from lynex_box.objstore import StoreUnavailable
from tests.lifecycle.conftest import DAY_MS, add_segment, ingest, now_ms, rows, s3_bucket
from tests.lifecycle.slow_proxy import SlowProxy
from tests.objstore.conftest import MotoServer

AGG = "SELECT model, count(*) AS n, sum(input_tokens) AS tokens, min(start_time) AS first FROM spans GROUP BY ALL"
MULTIPART_BYTES = 8 << 20  # S3Store uploads files larger than this in parts
RATE = 2 << 20  # bytes per second through the proxy while the transfer is slowed
BIG_ROWS = 260  # of 48 kB each: a segment of about 9.5 MB


def big_events(n: int, start_ms: int, payload_bytes: int) -> bytes:
    """Spans whose inputs are random text (about 3/4 of it survives zstd), for a segment of a chosen size."""
    rng = random.Random(7)
    return orjson.dumps(
        {
            "events": [
                {
                    "event_id": f"big-{i}",
                    "trace_id": f"big-t{i // 4}",
                    "span_id": f"s{i}",
                    "type": "llm",
                    "model": "gpt-4o",
                    "start_time": start_ms + i * 1000,
                    "end_time": start_ms + i * 1000 + 300,
                    "usage": {"input_tokens": i, "output_tokens": 1},
                    "user_id": f"user-{i % 3}",
                    "input": base64.b64encode(rng.randbytes(payload_bytes * 3 // 4)).decode(),
                }
                for i in range(n)
            ]
        }
    )


def catalog(engine: Any) -> list[tuple[Any, ...]]:
    """The catalog's rows as stored in meta.db."""
    return list(engine.meta.read("SELECT * FROM segments ORDER BY id"))


def bucket_keys(engine: Any) -> list[str]:
    return [m.key for m in engine.lifecycle.bucket.list("segments")]


@pytest.mark.parametrize("phase", ["upload", "verify"])
def test_killing_the_s3_server_mid_transfer_loses_nothing_and_the_offload_completes_once_it_is_back(
    open_engine: Any, restartable_moto: Any, tmp_path: Path, phase: str
) -> None:
    start, kill = restartable_moto
    state = tmp_path / "moto-state.pickle"
    server = start(state)
    server.create_bucket("outage")
    proxy = SlowProxy(int(server.endpoint.rsplit(":", 1)[1]))
    bucket = {**s3_bucket(MotoServer(proxy.endpoint), "outage"), "timeout_s": 10.0}
    engine = open_engine(bucket=bucket, offload={"hot_window_s": 2 * 86_400})

    add_segment(engine, "p1", "before", 20, now_ms() - 6 * DAY_MS)
    assert engine.lifecycle.offload() == 1  # in the bucket before the outage
    before_keys = bucket_keys(engine)
    ingest(engine, "p1", big_events(BIG_ROWS, now_ms() - 4 * DAY_MS, 48_000))
    engine.flush()
    add_segment(engine, "p1", "recent", 10, now_ms() - 3_600_000)  # inside the hot window
    (big,) = [e for e in engine.store.segment_entries() if e.location == "local" and e.row_count == BIG_ROWS]
    big_path = engine.data_dir / big.path
    assert big.bytes > MULTIPART_BYTES, "the segment must be large enough for a multipart upload"
    big_sha = file_sha256(big_path)
    expected, expected_agg = rows(engine), rows(engine, sql=AGG)  # reads (and caches) the bucket's segment too
    stored = catalog(engine)

    direction = "up" if phase == "upload" else "down"
    setattr(proxy, f"{direction}_rate", RATE)
    mark = proxy.sent_up if direction == "up" else proxy.sent_down
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(moved=engine.lifecycle.offload()))
    worker.start()
    proxy.wait_for(direction, mark + 3 * RATE // 4)
    assert worker.is_alive(), "the transfer ended before the kill"
    kill()  # SIGKILL, mid-transfer
    worker.join(timeout=120)
    assert not worker.is_alive()
    proxy.up_rate = proxy.down_rate = None

    assert outcome["moved"] == 0  # the pass gave up without raising
    assert catalog(engine) == stored  # not switched: the catalog is exactly as before
    assert big_path.exists() and file_sha256(big_path) == big_sha  # the segment stays local, unchanged
    assert rows(engine) == expected  # and queries keep working (the bucket's segment is in the cache)
    add_segment(engine, "p1", "during", 5, now_ms() - 60_000)  # so do ingest and flush
    expected, expected_agg = rows(engine), rows(engine, sql=AGG)
    with pytest.raises(StoreUnavailable):
        engine.lifecycle.bucket.head(before_keys[0])

    start(state)  # back, with what it had stored before the kill
    assert bucket_keys(engine)[: len(before_keys)] == before_keys  # nothing stored earlier was lost
    # An upload cut off is no object; a verify cut off leaves a complete object that nothing names. Neither
    # counts as uploaded: the retry uploads the segment again under a new key and verifies it.
    orphans = [k for k in bucket_keys(engine) if k not in before_keys]
    assert len(orphans) == (0 if phase == "upload" else 1)
    assert engine.lifecycle.offload() == 1
    (moved,) = [e for e in engine.store.segment_entries() if e.row_count == BIG_ROWS]
    assert moved.location == "remote" and moved.remote_key not in orphans + before_keys
    assert moved.checksum == big_sha and moved.bytes == big.bytes
    copy = tmp_path / "copy.parquet"
    meta = engine.lifecycle.bucket.get_to_file(moved.remote_key, copy)
    assert meta.size == big.bytes and file_sha256(copy) == big_sha
    assert not big_path.exists()  # freed locally (grace 0) once switched

    engine.lifecycle.cache.trim(0)  # read everything back from the bucket
    assert rows(engine) == expected and rows(engine, sql=AGG) == expected_agg
    assert sweep_bucket(engine.lifecycle.ctx, min_age_s=-1) == len(orphans)  # the orphan goes
    assert sorted(bucket_keys(engine)) == sorted([*before_keys, moved.remote_key])
    assert rows(engine) == expected
    proxy.close()

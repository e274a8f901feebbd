"""`kill -9` of the real server under concurrent load: no event that got a 202 is lost, none shows twice."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.e2e.server import RunningServer


def test_kill9_under_concurrent_load_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data", env={"LYNEX_HEAD_MAX_ROWS": "300"}).start()
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(timeout=5) as http:
            batch = 0
            while not stop.is_set():
                trace = f"k{worker}-{batch}"
                events = [
                    {"event_id": f"{trace}-{i}", "trace_id": trace, "name": "step", "input": "x" * 500}
                    for i in range(25)
                ]
                try:
                    r = http.post(
                        f"{server.url}/v1/projects/{server.project}/events",
                        json={"events": events},
                        headers=server.headers(),
                    )
                except httpx.HTTPError:
                    return  # the server died mid-request: not acknowledged
                if r.status_code == 202:
                    with lock:
                        acked.append(trace)
                batch += 1

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    server.kill()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 20, "load too small to mean anything"

    server.start()
    counts: dict[str, int] = {}
    cursor = None
    with httpx.Client(timeout=30) as http:
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = http.get(
                f"{server.url}/v1/projects/{server.project}/traces", params=params, headers=server.headers()
            )
            body = page.json()
            for row in body["items"]:
                counts[row["trace_id"]] = row["span_count"]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        spans = http.get(f"{server.url}/v1/projects/{server.project}/metrics", headers=server.headers()).json()[
            "series"
        ][0]["points"][0]["count"]
    missing = [t for t in acked if counts.get(t) != 25]
    assert missing == [], f"{len(missing)} acknowledged batches lost or partial, e.g. {missing[:3]}"
    assert all(n == 25 for n in counts.values()), "a span shows twice"
    assert spans == 25 * len(counts)
    server.stop()

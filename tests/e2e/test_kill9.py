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


def test_kill9_while_scores_are_posted_loses_no_acknowledged_score_and_stores_none_twice(tmp_path: Path) -> None:
    """Scores go through the WAL like events: a score whose POST got its 202 is there after a kill -9, once, with the
    id the answer gave it (the record carries the ids the route made, so a replay cannot make new ones)."""
    server = RunningServer(tmp_path / "data", env={"LYNEX_HEAD_MAX_ROWS": "300"}).start()
    acked: dict[str, float] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def scorer(worker: int) -> None:
        with httpx.Client(timeout=5) as http:
            batch = 0
            while not stop.is_set():
                scores = [
                    {"trace_id": f"s{worker}-{batch}", "name": "quality", "value": worker * 1_000_000 + batch * 10 + i}
                    for i in range(5)
                ]  # no ids: the server makes them
                try:
                    r = http.post(
                        f"{server.url}/v1/projects/{server.project}/scores",
                        json={"scores": scores},
                        headers=server.headers(),
                    )
                except httpx.HTTPError:
                    return  # the server died mid-request: not acknowledged
                if r.status_code == 202:
                    with lock:
                        acked.update(zip(r.json()["ids"], (float(s["value"]) for s in scores), strict=True))
                batch += 1

    def spanner() -> None:  # spans beside them, so the head flushes and the WAL checkpoint moves
        with httpx.Client(timeout=5) as http:
            batch = 0
            while not stop.is_set():
                events = [{"event_id": f"e{batch}-{i}", "trace_id": f"e{batch}", "name": "step"} for i in range(25)]
                try:
                    http.post(
                        f"{server.url}/v1/projects/{server.project}/events",
                        json={"events": events},
                        headers=server.headers(),
                    )
                except httpx.HTTPError:
                    return
                batch += 1

    threads = [threading.Thread(target=scorer, args=(w,)) for w in range(3)] + [threading.Thread(target=spanner)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    server.kill()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 50, "load too small to mean anything"

    server.start()
    found: list[tuple[str, float]] = []
    cursor = None
    with httpx.Client(timeout=30) as http:
        while True:
            params = {"limit": 1000, "name": "quality", **({"cursor": cursor} if cursor else {})}
            url = f"{server.url}/v1/projects/{server.project}/scores"
            body = http.get(url, params=params, headers=server.headers()).json()
            found += [(item["id"], item["value"]) for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
    stored = dict(found)
    assert len(stored) == len(found), "a score shows twice"
    missing = [score_id for score_id, value in acked.items() if stored.get(score_id) != value]
    assert missing == [], f"{len(missing)} acknowledged scores lost or changed, e.g. {missing[:3]}"
    server.stop()

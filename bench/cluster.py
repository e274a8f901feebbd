"""Cluster mode on this machine: aggregate ingest through three nodes against one, and how long after its `202` on
one node an event is visible on another.

    python bench/cluster.py                     # 50k spans per ingest phase, 50 events, default [cluster] settings
    python bench/cluster.py --ingest-spans 300000 --events 200     # longer
    python bench/cluster.py --ingest-spans 0 --events 200 --flush-age 1 --poll 0.5   # latency only
    python bench/cluster.py --background 20     # while each node also takes 20 other events a second

Starts the moto S3 server (tests/objstore/moto_server.py) and three `lynex-box run` processes on 127.0.0.1 with
their own data dirs, one bucket prefix (the joined nodes get the founding node's key from the metadata snapshot).

Aggregate ingest: the client load of bench/ingest.py (`--clients` threads per node, each sending 500-span batches
of its templates over one keep-alive connection), first all of it to node-a alone (the two other nodes running, as
idle members that read node-a's segments), then `--clients` threads to each of the three nodes at once, the same
number of spans per phase. Each phase reports accepted spans/s (all `202`s) and queryable spans/s (until every
node's `/metrics` counts every span of the phase). On one machine the three nodes share its cores with the client
and moto, so this measures the overhead of cluster mode more than the gain of more machines.

Latency: event by event, it sends
one span to node i and polls `GET /traces/{id}` on node i+1 until it answers 200, and prints one JSON object:
p50, p95 and max of those delays, with the settings. An idle node flushes an event at its flusher's next look (its
head is older than the flush age already); under steady ingest (`--background`) the head is flushed every flush
age, so the delay is spread over the whole flush age. Needs the [test] extra (moto, httpx).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.ingest import template_batch  # noqa: E402
from tests.e2e.server import RunningServer  # noqa: E402
from tests.objstore.conftest import MotoServer, _start_moto  # noqa: E402


def node_env(moto: MotoServer, node_id: str, flush_age: float | None, poll: float | None) -> dict[str, str]:
    env = {
        "LYNEX_BUCKET_TYPE": "s3", "LYNEX_BUCKET_BUCKET": "bench", "LYNEX_BUCKET_ENDPOINT": moto.endpoint,
        "LYNEX_BUCKET_PREFIX": "cluster", "LYNEX_BUCKET_ACCESS_KEY_ID": "testing",
        "LYNEX_BUCKET_SECRET_ACCESS_KEY": "testing", "LYNEX_BUCKET_ALLOW_HTTP": "true",
        "LYNEX_BUCKET_NODE_ID": node_id, "LYNEX_CLUSTER_ENABLED": "true",
    }  # fmt: skip
    if flush_age is not None:
        env["LYNEX_CLUSTER_FLUSH_AGE_S"] = str(flush_age)
    if poll is not None:
        env["LYNEX_CLUSTER_POLL_INTERVAL_S"] = str(poll)
    return env


def background(url: str, project: str, key: str, per_s: float, stop: threading.Event) -> None:
    """Steady ingest into one node until `stop`: one event every 1/per_s seconds."""
    with httpx.Client(base_url=f"{url}/v1/projects/{project}", headers={"Authorization": f"Bearer {key}"}) as client:
        while not stop.wait(1 / per_s):
            trace_id = f"bg-{uuid.uuid4().hex[:12]}"
            event = {"event_id": trace_id, "trace_id": trace_id, "span_id": trace_id, "name": "background",
                     "start_time": int(time.time() * 1000)}  # fmt: skip
            client.post("/events", json={"events": [event]})


def ingest_phase(
    nodes: list[RunningServer],
    every_node: list[RunningServer],
    project: str,
    key: str,
    spans: int,
    clients: int,
    day: str,
    batch: int = 500,
) -> dict[str, object]:
    """bench/ingest.py's load (`clients` threads per node, 500-span batches) spread over `nodes`; spans dated `day`
    (unique to the phase, so that each phase counts its own). Returns spans/s accepted and queryable everywhere."""
    templates = [template_batch(batch, seed).replace(b"2026-11-27", day.encode()) for seed in range(8)]
    batches = iter(range(spans // batch))
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    tag = day[-2:]  # batch ids unique across phases too

    def client(port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                n = next(batches, None)
            if n is None:
                return
            body = templates[n % len(templates)].replace(b"BATCHNO", f"{tag}{n:05d}".encode())
            for _attempt in range(20):
                conn.request("POST", f"/v1/projects/{project}/events", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status == 202:
                    break
                time.sleep(float(resp.getheader("Retry-After") or 1))
            else:
                raise SystemExit(f"batch {n} refused 20 times: {resp.status}")

    total = (spans // batch) * batch
    threads = [threading.Thread(target=client, args=(n.port,)) for n in nodes for _ in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = time.monotonic() - start
    window = {"from": f"{day}T00:00:00Z", "to": f"{day}T23:59:59Z"}
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http_client:
        for node in every_node:  # every node of the cluster, not only those that took the load
            while True:
                answer = http_client.get(f"{node.url}/v1/projects/{project}/metrics", params=window)
                series = answer.json()["series"] if answer.status_code == 200 else []
                if series and series[0]["points"][0]["count"] >= total:
                    break
                if time.monotonic() - start > 600:
                    raise SystemExit(f"phase {day}: not every span visible on {node.url} after 600 s")
                time.sleep(0.1)
    everywhere = time.monotonic() - start
    return {
        "nodes_taking_load": len(nodes),
        "client_threads": len(threads),
        "spans": total,
        "accepted_spans_per_s": round(total / accepted),
        "queryable_on_every_node_spans_per_s": round(total / everywhere),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--flush-age", type=float, default=None, help="[cluster] flush_age_s (default: its default)")
    parser.add_argument("--poll", type=float, default=None, help="[cluster] poll_interval_s (default: its default)")
    parser.add_argument("--background", type=float, default=0.0, help="other events a second sent to each node")
    parser.add_argument(
        "--ingest-spans", type=int, default=50_000, help="spans per ingest phase (0 = no ingest phases)"
    )
    parser.add_argument(
        "--clients", type=int, default=4, help="client threads per node taking load (bench/ingest.py: 4)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lynex-bench-cluster-"))
    moto_proc, endpoint = _start_moto(work / "moto.log")
    moto = MotoServer(endpoint)
    moto.create_bucket("bench")
    nodes: list[RunningServer] = []
    load = [os.getloadavg()[0]]
    try:
        for i, node_id in enumerate(("node-a", "node-b", "node-c")):
            env = node_env(moto, node_id, args.flush_age, args.poll)
            nodes.append(RunningServer(work / node_id, env=env, credentials=i == 0).start(timeout=120))
        key, project = nodes[0].creds["api_key"], nodes[0].project
        clients = [
            httpx.Client(base_url=f"{n.url}/v1/projects/{project}", headers=n.headers(key), timeout=10) for n in nodes
        ]
        ingest = []
        if args.ingest_spans > 0:
            ingest.append(ingest_phase(nodes[:1], nodes, project, key, args.ingest_spans, args.clients, "2026-11-25"))
            ingest.append(ingest_phase(nodes, nodes, project, key, args.ingest_spans, args.clients, "2026-11-26"))
        stop = threading.Event()
        senders = [
            threading.Thread(target=background, args=(n.url, project, key, args.background, stop), daemon=True)
            for n in nodes
            if args.background > 0
        ]
        for sender_thread in senders:
            sender_thread.start()
        delays: list[float] = []
        for i in range(args.events):
            sender, reader = clients[i % 3], clients[(i + 1) % 3]
            trace_id = f"bench-{uuid.uuid4().hex[:12]}"
            event = {"event_id": trace_id, "trace_id": trace_id, "span_id": trace_id, "name": "bench",
                     "start_time": int(time.time() * 1000)}  # fmt: skip
            answer = sender.post("/events", json={"events": [event]})
            acked = time.monotonic()
            assert answer.status_code == 202, answer.text
            while reader.get(f"/traces/{trace_id}").status_code != 200:
                if time.monotonic() - acked > 60:
                    raise SystemExit(f"{trace_id} not visible after 60 s")
                time.sleep(0.02)
            delays.append(time.monotonic() - acked)
        stop.set()
        for sender_thread in senders:
            sender_thread.join()
        for client in clients:
            client.close()
        load.append(os.getloadavg()[0])
        print(
            json.dumps(
                {
                    "ingest": ingest,
                    "ingest_three_over_one": (
                        round(ingest[1]["accepted_spans_per_s"] / ingest[0]["accepted_spans_per_s"], 2)  # type: ignore[operator]
                        if ingest
                        else None
                    ),
                    "events": args.events,
                    "ack_to_visible_on_another_node_s": {
                        "p50": round(statistics.median(delays), 3),
                        "p95": round(statistics.quantiles(delays, n=20)[-1], 3) if len(delays) > 1 else None,
                        "max": round(max(delays), 3),
                    }
                    if delays
                    else None,
                    "flush_age_s": args.flush_age or "default",
                    "poll_interval_s": args.poll or "default",
                    "background_events_per_s_per_node": args.background,
                    "loadavg_1m": load,
                }
            )
        )
    finally:
        for node in nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.stop()
        moto_proc.terminate()
        moto_proc.wait(10)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()

"""Make the upgrade fixture: a small data dir written by this release, for tests/cli/test_upgrade.py.

The test keeps one such data dir per release (`tests/fixtures/upgrade/datadir-<version>.tar.gz`) and opens, queries
and compacts it with the current code, so a release that can no longer read what an older one wrote fails the
test run. Run this once per release, with that release's code, and commit both files it writes:

    PYTHONPATH=$PWD python scripts/make_upgrade_fixture.py          # writes datadir-<version>.tar.gz and .json

What it does, through the release's public interfaces only (the CLI and a real `lynex-box run` on 127.0.0.1):
`lynex-box init`, a second project with its own key, per-project retention 0 (the spans carry fixed dates, so the
fixture never ages out), then four server runs: native events, OTLP/HTTP JSON, a score and a custom price (run 1,
stopped with SIGTERM, which flushes), more events in both projects (run 2), more events and the deletion of one
trace, which leaves a pending tombstone (run 3), and a tail of native events, OTLP protobuf spans and a score that
stay in the write-ahead log unflushed (run 4, ended with SIGKILL once the server acknowledged them, so opening the
fixture replays them). Before the kill it asks the server for the answers the test expects (span counts, cost
sums, a trace's spans), and writes them with how the fixture was made into `datadir-<version>.json`.

The data dir holds test credentials only (a generated admin password and API keys, also written in the JSON, and the
secrets the instance generated for itself): nothing in it protects anything real.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lynex_box import __version__  # noqa: E402 - after the repository is on the path
from lynex_box.wal.format import FILE_HEADER_SIZE, FrameError, decode_file_header, decode_record_at  # noqa: E402
from tests.e2e.server import RunningServer  # noqa: E402

TARGET = ROOT / "tests" / "fixtures" / "upgrade"
BASE_MS = int(dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC).timestamp() * 1000)  # fixed: answers never drift
HOUR_MS = 3_600_000
CUSTOM_MODEL = "acme-llm"  # priced by the project's custom price only, so its cost is the same in every release
UNPRICED_MODEL = "fixture-local-model"  # in no price list: cost_source "none"
# No head flush by age or size while a run lasts, no background pass: every segment is a flush of a clean stop.
SERVER_ENV = {
    "LYNEX_HEAD_MAX_AGE_S": "3600",
    "LYNEX_COMPACTION_INTERVAL_S": "86400",
    "LYNEX_DELETION_MAX_DELAY_S": "86400",
    "LYNEX_RETENTION_INTERVAL_S": "86400",
    "LYNEX_BACKUP_INTERVAL_S": "0",
    "LYNEX_INGEST_MIN_FREE_DISK_BYTES": "0",
    "LYNEX_LIFECYCLE_DISK_PRESSURE_FREE_BYTES": "0",
}


def cli(data_dir: Path, *args: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", "lynex_box", *args, "--data-dir", str(data_dir), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def events(tag: str, n: int, start_ms: int, model_of: Any) -> dict[str, Any]:
    """`n` native events in traces of 5 spans: a root agent span and LLM calls under it."""
    return {
        "events": [
            {
                "event_id": f"{tag}-{i}",
                "trace_id": f"{tag}-t{i // 5}",
                "span_id": f"{tag}-s{i}",
                **({"parent_span_id": f"{tag}-s{i - i % 5}"} if i % 5 else {}),
                "name": "agent" if i % 5 == 0 else "chat",
                "type": "agent" if i % 5 == 0 else "llm",
                **(
                    {}
                    if i % 5 == 0
                    else {"model": model_of(i), "usage": {"input_tokens": 100 + i, "output_tokens": 20 + i % 7}}
                ),
                "start_time": start_ms + i * 1000,
                "end_time": start_ms + i * 1000 + 250 + i % 11,
                "session_id": f"{tag}-sess-{i // 20}",
                "user_id": f"user-{i % 3}",
                "tags": [tag] + (["even"] if i % 2 == 0 else []),
                "input": [{"role": "user", "content": f"question {tag} {i}"}],
                "output": [{"role": "assistant", "content": f"answer {tag} {i}"}],
            }
            for i in range(n)
        ]
    }


def otlp(tag: int, traces: int, spans: int, start_ms: int, model: str) -> dict[str, Any]:
    """OTLP/JSON spans with the OpenTelemetry GenAI attributes."""
    items = []
    for t in range(traces):
        trace_hex = f"{tag:08x}{t:024x}"
        for s in range(spans):
            start_ns = (start_ms + (t * spans + s) * 1000) * 1_000_000
            attributes = [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": model}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(50 + s)}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": str(10 + s)}},
            ]
            items.append(
                {
                    "traceId": trace_hex,
                    "spanId": f"{tag:04x}{t:04x}{s:08x}",
                    **({"parentSpanId": f"{tag:04x}{t:04x}{0:08x}"} if s else {}),
                    "name": f"chat {model}",
                    "kind": 3,
                    "startTimeUnixNano": str(start_ns),
                    "endTimeUnixNano": str(start_ns + 400_000_000),
                    "attributes": attributes,
                }
            )
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "fixture-app"}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "fixture"}, "spans": items}]}]}


def otlp_trace_id(tag: int, t: int) -> str:
    return f"{tag:08x}{t:024x}"


class Fixture:
    """The data dir being made and what was sent into it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.creds: dict[str, Any] = cli(data_dir, "init")
        self.a = self.creds["project_id"]
        self.b = cli(data_dir, "projects", "create", "second")["project_id"]
        self.b_key = cli(data_dir, "keys", "create", "--project", self.b, "--scope", "admin")["api_key"]
        for project in (self.a, self.b):
            cli(data_dir, "projects", "set-retention", project, "0")
        self.server: RunningServer | None = None

    def start(self) -> RunningServer:
        self.server = RunningServer(self.data_dir, env=SERVER_ENV)
        self.server.creds = dict(self.creds)  # `init` printed them: `run` prints nothing
        return self.server.start()

    def post(self, path: str, body: Any, key: str | None = None, method: str = "POST", **kw: Any) -> Any:
        assert self.server is not None
        r = httpx.request(
            method, f"{self.server.url}{path}", json=body, headers=self.server.headers(key), timeout=30, **kw
        )
        assert r.status_code < 300, (path, r.status_code, r.text)
        return r.json()

    def native(self, project: str, key: str | None, body: dict[str, Any]) -> None:
        answer = self.post(f"/v1/projects/{project}/events", body, key)
        assert not answer.get("rejected"), answer

    def otlp_protobuf(self, key: str, body: dict[str, Any]) -> None:
        assert self.server is not None
        ids = ("traceId", "spanId", "parentSpanId")  # hex in OTLP/JSON, base64 in protobuf's own JSON mapping
        for span in body["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            span.update({k: base64.b64encode(bytes.fromhex(span[k])).decode() for k in ids if k in span})
        message = json_format.ParseDict(body, ExportTraceServiceRequest())
        headers = {**self.server.headers(key), "Content-Type": "application/x-protobuf"}
        r = httpx.post(f"{self.server.url}/v1/traces", content=message.SerializeToString(), headers=headers, timeout=30)
        assert r.status_code == 200, r.text

    def get(self, path: str, key: str | None = None) -> Any:
        assert self.server is not None
        r = httpx.get(f"{self.server.url}{path}", headers=self.server.headers(key), timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def totals(self, project: str, key: str | None) -> dict[str, Any]:
        [series] = self.get(f"/v1/projects/{project}/metrics", key)["series"]
        [point] = series["points"]
        return {"spans": point["count"], "total_cost": point["total_cost"]}


def make(data_dir: Path) -> dict[str, Any]:
    f = Fixture(data_dir)
    a, b, b_key = f.a, f.b, f.b_key
    alternate = lambda i: CUSTOM_MODEL if i % 2 else "gpt-4o"  # noqa: E731

    f.start()  # run 1: custom price, native events, OTLP JSON, a score
    price = {"model": CUSTOM_MODEL, "input_per_mtok": 1.5, "output_per_mtok": 6.0}
    f.post(f"/v1/projects/{a}/prices", {"prices": [price]}, method="PUT")
    f.native(a, None, events("a1", 100, BASE_MS, alternate))
    f.post("/v1/traces", otlp(0xA1, 3, 10, BASE_MS + HOUR_MS // 2, CUSTOM_MODEL))
    score = {"trace_id": "a1-t0", "name": "quality", "value": 0.9, "comment": "fixture"}
    f.post(f"/v1/projects/{a}/scores", score)
    assert f.server is not None and f.server.stop() == 0

    f.start()  # run 2: both projects
    f.native(a, None, events("a2", 60, BASE_MS + HOUR_MS, alternate))
    f.native(b, b_key, events("b1", 80, BASE_MS, lambda i: "gpt-4o-mini"))
    assert f.server is not None and f.server.stop() == 0

    f.start()  # run 3: more spans, and a deletion whose tombstone is still pending
    f.native(b, b_key, events("b2", 50, BASE_MS + 2 * HOUR_MS, lambda i: "gpt-4o-mini"))
    deleted = f.post(f"/v1/projects/{a}/traces/a1-t3", None, method="DELETE")
    assert f.server is not None and f.server.stop() == 0

    server = f.start()  # run 4: a tail left in the WAL (SIGKILL after the acknowledgements)
    f.native(a, None, events("a3", 10, BASE_MS + 3 * HOUR_MS, lambda i: CUSTOM_MODEL))
    f.otlp_protobuf(b_key, otlp(0xB1, 1, 8, BASE_MS + 3 * HOUR_MS, UNPRICED_MODEL))
    f.post(f"/v1/projects/{b}/scores", {"trace_id": "b2-t1", "name": "thumbs", "value": 1}, b_key)
    expected = {
        "projects": {a: f.totals(a, None), b: f.totals(b, b_key)},
        "traces": {
            a: {
                t: len(f.get(f"/v1/projects/{a}/traces/{t}")["spans"])
                for t in ("a1-t0", "a3-t1", otlp_trace_id(0xA1, 2))
            },
            b: {
                t: len(f.get(f"/v1/projects/{b}/traces/{t}", b_key)["spans"]) for t in ("b2-t1", otlp_trace_id(0xB1, 0))
            },
        },
        "scores": {
            a: {"a1-t0": len(f.get(f"/v1/projects/{a}/scores?trace_id=a1-t0")["items"])},
            b: {"b2-t1": len(f.get(f"/v1/projects/{b}/scores?trace_id=b2-t1", b_key)["items"])},
        },
        "deleted_trace": {"project_id": a, "trace_id": "a1-t3", "tombstone_id": deleted["tombstone_id"]},
    }
    server.kill()
    return {"creds": f.creds, "second_project": {"project_id": b, "api_key": b_key}, "expected": expected}


def wal_state(data_dir: Path) -> dict[str, int]:
    """The checkpoint and the WAL's last LSN after the kill: the records an open must replay."""
    conn = sqlite3.connect(f"file:{data_dir / 'meta.db'}?mode=ro", uri=True)
    try:
        consumed = int(conn.execute("SELECT consumed_lsn FROM wal_progress").fetchone()[0])
        segments = int(conn.execute("SELECT count(*) FROM segments WHERE state = 'published'").fetchone()[0])
        tombstones = int(conn.execute("SELECT count(*) FROM tombstones").fetchone()[0])
    finally:
        conn.close()
    last = 0
    for path in sorted((data_dir / "wal").glob("*.wal")):
        data = path.read_bytes()
        offset, lsn = FILE_HEADER_SIZE, decode_file_header(data)
        while offset < len(data):
            try:
                record, offset = decode_record_at(data, offset, lsn, decompress=False)
            except FrameError:
                break
            last, lsn = record.lsn, record.lsn + 1
    assert last > consumed, "the tail must be left in the WAL"
    return {"consumed_lsn": consumed, "last_lsn": last, "published_segments": segments, "tombstones": tombstones}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=TARGET, help="directory for the tarball and its JSON")
    args = parser.parse_args()
    name = f"datadir-{__version__}"
    with tempfile.TemporaryDirectory(prefix="lynex-fixture-") as tmp:
        data_dir = Path(tmp) / "data"
        made = make(data_dir)
        state = wal_state(data_dir)
        for leftover in data_dir.parent.glob("*-server.log"):
            leftover.unlink()
        args.out.mkdir(parents=True, exist_ok=True)
        tarball = args.out / f"{name}.tar.gz"
        with tarfile.open(tarball, "w:gz") as tar:
            tar.add(data_dir, arcname="data", filter=_member)
    record = {
        "version": __version__,
        "made_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "made_by": "scripts/make_upgrade_fixture.py (see its docstring): init, 4 server runs, SIGKILL after the last",
        "secrets": "test data: the admin password and API keys below, and the secrets the instance generated for "
        "itself (in meta.db and alerts-secrets.key), were made for this fixture alone and protect nothing real",
        "tarball": tarball.name,
        "bytes": tarball.stat().st_size,
        "data_dir": "data",
        "admin": {"email": made["creds"]["admin_email"], "password": made["creds"]["admin_password"]},
        "projects": {
            made["creds"]["project_id"]: {"api_key": made["creds"]["api_key"]},
            made["second_project"]["project_id"]: {"api_key": made["second_project"]["api_key"]},
        },
        "custom_price": {"project_id": made["creds"]["project_id"], "model": CUSTOM_MODEL},
        "state": state,
        "expected": made["expected"],
    }
    (args.out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({"tarball": str(tarball), "bytes": record["bytes"], **state}))


def _member(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Owner and times of no one in particular; nothing but what the data dir holds."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = int(time.time())
    return info


if __name__ == "__main__":
    main()

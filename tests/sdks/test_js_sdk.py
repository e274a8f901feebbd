"""The TypeScript SDK (sdks/js) against the real server: builds it, starts a server, runs its `node --test` suite.

The Node tests send through the SDK and read back through the query API themselves; each also records the trace
and event ids it sent (LYNEX_TEST_REPORT), and this launcher checks them once more from Python: every event is
stored exactly once. Needs node and npm (scripts/test.sh installs the SDK's packages with `npm ci`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import RunningServer

SDK = Path(__file__).resolve().parents[2] / "sdks" / "js"


SCHEMA = SDK.parents[1] / "lynex_box" / "schema" / "event.schema.json"


def _newest(*paths: Path) -> float:
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return max(f.stat().st_mtime for f in files)


def _build() -> None:
    """`npm ci` when node_modules is older than the lock file, `npm run build` when dist/ is older than a source
    (scripts/test.sh has done both: then nothing runs). The build fails when src/event-types.ts is stale."""
    installed = SDK / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (SDK / "package-lock.json").stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SDK, check=True, timeout=600)
    built = SDK / "dist" / "node" / "index.mjs"
    sources = (SDK / "src", SDK / "scripts", SDK / "package.json", SDK / "tsconfig.json", SCHEMA)
    if not built.exists() or built.stat().st_mtime < _newest(*sources):
        subprocess.run(["npm", "run", "build", "--silent"], cwd=SDK, check=True, timeout=300)


@pytest.fixture(scope="module")
def built_sdk() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the TypeScript SDK's tests")
    _build()
    return SDK


def test_js_sdk_node_suite_against_the_real_server(built_sdk: Path, tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data").start()
    try:
        report = tmp_path / "report.jsonl"
        env = {
            **os.environ,
            "LYNEX_BASE_URL": server.url,
            "LYNEX_API_KEY": server.creds["api_key"],
            "LYNEX_PROJECT": server.project,
            "LYNEX_TEST_REPORT": str(report),
        }
        run = subprocess.run(
            ["node", "--test", "test/"], cwd=built_sdk, env=env, capture_output=True, text=True, timeout=240
        )
        summary = "\n".join(line for line in run.stdout.splitlines() if line.startswith(("# ", "not ok")))
        assert run.returncode == 0, f"node --test failed:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
        assert "# fail 0" in run.stdout and "# skipped 0" in run.stdout, summary

        records = [json.loads(line) for line in report.read_text().splitlines()]
        assert {r["test"] for r in records} >= {"raw", "trace", "observe", "outage", "openai", "exit"}
        for record in records:
            url = f"{server.url}/v1/projects/{server.project}/traces/{record['trace_id']}"
            r = httpx.get(url, headers=server.headers())
            assert r.status_code == 200, r.text
            stored = [span["event_id"] for span in r.json()["spans"]]
            assert sorted(stored) == sorted(record["event_ids"]), record["test"]  # each event once, none missing
    finally:
        server.stop()

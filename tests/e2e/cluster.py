"""Helpers for the cluster tests: the environment that makes a `lynex-box run` process a node of a cluster on a
bucket of the real moto server, a start that must be refused, and the cluster's state as `lynex-box cluster status
--json` prints it.

Short times, so that takeovers happen within seconds: leases live `TTL_S`, heartbeats every `HEARTBEAT_S`, clocks
(one machine) may differ by `SKEW_S`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.server import free_port
from tests.objstore.conftest import MotoServer

TTL_S = 3.0
HEARTBEAT_S = 0.5
SKEW_S = 0.5
POLL_S = 0.5


def cluster_env(
    moto: MotoServer | str, bucket: str, node_id: str, prefix: str = "deploy", **cluster: str
) -> dict[str, str]:
    """`LYNEX_*` variables for a node `node_id` of the cluster on `bucket`/`prefix` (`moto` or an endpoint URL)."""
    endpoint = moto if isinstance(moto, str) else moto.endpoint
    env = {
        "LYNEX_BUCKET_TYPE": "s3",
        "LYNEX_BUCKET_BUCKET": bucket,
        "LYNEX_BUCKET_ENDPOINT": endpoint,
        "LYNEX_BUCKET_PREFIX": prefix,
        "LYNEX_BUCKET_ACCESS_KEY_ID": "testing",
        "LYNEX_BUCKET_SECRET_ACCESS_KEY": "testing",
        "LYNEX_BUCKET_ALLOW_HTTP": "true",
        "LYNEX_BUCKET_RETRIES": "1",
        "LYNEX_BUCKET_NODE_ID": node_id,
        "LYNEX_CLUSTER_ENABLED": "true",
        "LYNEX_CLUSTER_LEASE_TTL_S": str(TTL_S),
        "LYNEX_CLUSTER_HEARTBEAT_S": str(HEARTBEAT_S),
        "LYNEX_CLUSTER_MAX_CLOCK_SKEW_S": str(SKEW_S),
        "LYNEX_CLUSTER_POLL_INTERVAL_S": str(POLL_S),
    }
    env.update({f"LYNEX_CLUSTER_{key.upper()}": value for key, value in cluster.items()})
    return env


def refused_start(data_dir: Path, env: dict[str, str], timeout_s: float = 120) -> str:
    """Run `lynex-box run` expecting it to refuse: it must exit with an error; returns its standard error."""
    inherited = {k: v for k, v in os.environ.items() if k != "LYNEX_CRASH_AT"}
    done = subprocess.run(
        [sys.executable, "-m", "lynex_box", "run", "--data-dir", str(data_dir), "--port", str(free_port())],
        env={**inherited, "LYNEX_RETENTION_DAYS": "0", **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert done.returncode != 0, f"the start was not refused: {done.stderr[-3000:]}"
    return done.stderr


def status(env: dict[str, str]) -> dict[str, Any]:
    """`lynex-box cluster status --json` with a node's settings."""
    done = subprocess.run(
        [sys.executable, "-m", "lynex_box", "cluster", "status", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    payload: dict[str, Any] = json.loads(done.stdout)
    return payload


def live_holders(state: dict[str, Any]) -> dict[str, str]:
    """Job -> the node holding its lease now, from a status answer (jobs whose lease is not live are left out)."""
    return {lease["job"]: lease["holder"] for lease in state["leases"] if lease["live"]}

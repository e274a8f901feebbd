"""`lynex-box cluster status`: the nodes and leases written by the cluster library in a bucket on the real moto
server, read back through the command with a node's lynex.toml."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lynex_box.cli import main
from lynex_box.cluster import HeartbeatWriter, LeaseKeeper, settle
from lynex_box.objstore import S3Store
from tests.cluster.conftest import s3_settings, wrapped
from tests.objstore.conftest import MotoServer


def config_file(tmp_path: Path, server: MotoServer, bucket: str) -> Path:
    path = tmp_path / "lynex.toml"
    path.write_text(
        f'[bucket]\ntype = "s3"\nbucket = "{bucket}"\nendpoint = "{server.endpoint}"\nprefix = "deploy"\n'
        'access_key_id = "testing"\nsecret_access_key = "testing"\nallow_http = true\n'
        "[cluster]\nenabled = true\nlease_ttl_s = 15.0\n"
    )
    return path


def status(*args: str) -> str:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["cluster", "status", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_status_lists_the_nodes_their_liveness_and_the_leases_each_holds(
    tmp_path: Path, moto_server: MotoServer, bucket: str
) -> None:
    store = wrapped(S3Store(s3_settings(moto_server, bucket)))
    founded = settle(store, node_id="node-a", local_id=None, data_dir_empty=False)
    a = HeartbeatWriter(store, node_id="node-a", version="0.9.0", address="http://10.0.0.5:4318", lease_ttl_s=15.0)
    keeper = LeaseKeeper(
        store, holder="node-a", incarnation=a.incarnation, ttl_s=15.0, max_clock_skew_s=2.0,
        jobs=("alerts", "compaction"),
    )  # fmt: skip
    a.claim()
    keeper.tick()
    b = HeartbeatWriter(store, node_id="node-b", version="0.9.1", address="http://10.0.0.6:4318", lease_ttl_s=15.0)
    b.claim()
    b.stop()
    config = str(config_file(tmp_path, moto_server, bucket))

    payload = json.loads(status("--config", config, "--json"))

    assert payload["cluster_id"] == founded.record.cluster_id and payload["founder"] == "node-a"
    nodes = {node["node_id"]: node for node in payload["nodes"]}
    assert sorted(nodes) == ["node-a", "node-b"]
    assert nodes["node-a"]["alive"] is True and nodes["node-a"]["leases"] == ["alerts", "compaction"]
    assert (nodes["node-a"]["version"], nodes["node-a"]["address"]) == ("0.9.0", "http://10.0.0.5:4318")
    assert nodes["node-b"]["alive"] is False and nodes["node-b"]["heartbeat_at"] == 0
    assert nodes["node-b"]["leases"] == []
    assert [(lease["job"], lease["holder"], lease["generation"], lease["live"]) for lease in payload["leases"]] == [
        ("alerts", "node-a", 1, True),
        ("compaction", "node-a", 1, True),
    ]

    keeper.stop()  # released: node-a is alive and holds nothing
    payload = json.loads(status("--config", config, "--json"))
    assert {n["node_id"]: n["leases"] for n in payload["nodes"]} == {"node-a": [], "node-b": []}

    text = status("--config", config)
    assert f"cluster {founded.record.cluster_id}" in text
    assert "node-a" in text and "http://10.0.0.5:4318" in text and "stopped" in text


def test_status_without_a_bucket_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "lynex.toml"
    path.write_text("[server]\nport = 4318\n")
    result = CliRunner().invoke(main, ["cluster", "status", "--config", str(path)])
    assert result.exit_code == 1
    assert "[bucket] type = 'none'" in result.output and "hint:" in result.output


def test_status_of_a_bucket_without_a_cluster_says_so(tmp_path: Path, moto_server: MotoServer, bucket: str) -> None:
    payload = json.loads(status("--config", str(config_file(tmp_path, moto_server, bucket)), "--json"))
    assert payload == {"cluster_id": None, "founded_at": None, "founder": None, "nodes": [], "leases": []}

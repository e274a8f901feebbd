"""`lynex-box archive`: a project's live segment objects read from the cluster manifests, and from the newest backup
of a node that publishes no manifest, in a bucket on the real moto server (docs/format/bucket.md, "Reading the
bucket directly")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from lynex_box.cli import main
from lynex_box.cluster.archive import DEDUPE
from lynex_box.cluster.manifest import Manifest
from lynex_box.lifecycle.backup import BackupSegment
from lynex_box.lifecycle.backup import Manifest as BackupManifest
from lynex_box.objstore import ObjectStore, S3Store
from tests.cluster.conftest import s3_settings, wrapped
from tests.cluster.test_cli import config_file
from tests.objstore.conftest import MotoServer


def entry(node: str, project: str, segment: str) -> dict[str, Any]:
    return {"id": segment, "project_id": project, "key": f"segments/{node}/{project}/{segment}.parquet",
            "min_time": 1, "max_time": 2, "row_count": 10, "bytes": 100, "level": 0, "schema_version": 1,
            "created_at": 3, "checksum": "ab" * 32, "trace_bloom": None, "compactable": False}  # fmt: skip


def backup(store: ObjectStore, node: str, name: str, segments: list[str], created_at: int) -> None:
    manifest = BackupManifest(
        name=name, node_id=node, created_at=created_at, consumed_lsn=1, meta_schema_version=1,
        segments=[BackupSegment(s, "proj_a", f"segments/{node}/proj_a/{s}.parquet", 100, "cd" * 32, 7, 1, 2)
                  for s in segments],
    )  # fmt: skip
    store.put(f"backups/{node}/{name}/manifest.json", manifest.to_json())


def archive(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["archive", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_archive_lists_the_manifests_live_objects_and_the_newest_backup_of_a_node_without_one(
    tmp_path: Path, moto_server: MotoServer, bucket: str
) -> None:
    store = wrapped(S3Store(s3_settings(moto_server, bucket)))
    a = Manifest("node-a", "inc", 4, 5, (entry("node-a", "proj_a", "S2"), entry("node-a", "proj_b", "S3")))
    store.put("cluster/manifests/node-a.json", a.to_bytes())
    store.put(
        "cluster/manifests/node-b.json", Manifest("node-b", "inc", 1, 5, (entry("node-b", "proj_a", "S1"),)).to_bytes()
    )
    backup(store, "node-a", "20261201T000000Z-X", ["OLD"], 1)  # node-a publishes a manifest: its backups are not read
    backup(store, "node-s", "20261201T000000Z-Y", ["S8"], 1)  # a single node: its newest backup is read
    backup(store, "node-s", "20261202T000000Z-Z", ["S9"], 2)
    config = str(config_file(tmp_path, moto_server, bucket))

    code, out, err = archive("--project", "proj_a", "--config", config)
    assert code == 0, err
    base = f"s3://{bucket}/deploy"
    assert out.split() == [
        f"{base}/segments/{n}/proj_a/{s}.parquet" for n, s in (("node-a", "S2"), ("node-b", "S1"), ("node-s", "S9"))
    ]
    assert "1 object(s) from the newest backup" in err

    code, out, _ = archive("--project", "proj_a", "--config", config, "--json")
    objects = json.loads(out)["objects"]
    assert [(o["node_id"], o["row_count"]) for o in objects] == [("node-a", 10), ("node-b", 10), ("node-s", 7)]

    code, out, _ = archive("--project", "proj_b", "--config", config, "--sql", "--base", "/data/copy")
    assert code == 0
    assert "read_parquet([\n  '/data/copy/segments/node-a/proj_b/S3.parquet'\n], union_by_name = true)" in out
    assert DEDUPE in out

    code, _, err = archive("--project", "proj_none", "--config", config, "--sql")
    assert code == 1 and "no segment object to read" in err

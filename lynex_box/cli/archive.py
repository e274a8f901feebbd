"""`lynex-box archive`: the bucket objects that hold one project's live spans, as URLs, JSON or DuckDB SQL.

Argument parsing and output only; the reading is `lynex_box.cluster.archive` (the cluster manifests) and
`lynex_box.lifecycle.backup` (the newest backup of each node that publishes no manifest). It reads the bucket of
`[bucket]`, writes nothing, and needs no data dir, so it runs from any machine with a node's lynex.toml. What a
direct reader must still do itself (deletions not yet purged, encrypted projects) is in docs/format/bucket.md.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from lynex_box.cli.common import emit_json, refusing, settings_for
from lynex_box.config import BucketSettings

if TYPE_CHECKING:
    from lynex_box.cluster.archive import ArchiveObject
    from lynex_box.objstore import ObjectStore


@click.command("archive")
@click.option("--project", "project_id", required=True, help="the project whose segment objects to list")
@click.option("--config", type=click.Path(dir_okay=False), help="lynex.toml to load")
@click.option("--base", help="where readers find the prefix (default: s3://<bucket>/<prefix>, or the directory)")
@click.option("--sql", "as_sql", is_flag=True, help="print DuckDB SQL defining the view `spans` over them")
@click.option("--json", "as_json", is_flag=True, help="print JSON: the objects, their nodes, rows and bytes")
def archive(project_id: str, config: str | None, base: str | None, as_sql: bool, as_json: bool) -> None:
    """List the bucket objects holding a project's live spans (one URL a line), for DuckDB, Trino or Spark."""
    from lynex_box.cluster import ClusterError
    from lynex_box.cluster.archive import duckdb_sql, manifest_objects, object_url
    from lynex_box.lifecycle.bucket import BucketConfigError, open_bucket
    from lynex_box.objstore import ObjectStoreError
    from lynex_box.versions import FormatTooNew

    settings = settings_for(config, None, existing=False)
    with refusing(BucketConfigError, ObjectStoreError, ClusterError, FormatTooNew, ValueError):
        store = open_bucket(settings.bucket)
        if store is None:
            raise click.ClickException("[bucket] type = 'none': no bucket to read; hint: pass the --config of a node")
        objects, nodes = manifest_objects(store, project_id)
        from_backups = _newest_backups(store, project_id, set(nodes))
        objects = sorted([*objects, *from_backups], key=lambda o: o.key)
        root = base or _default_base(settings.bucket)
        urls = [object_url(root, o.key) for o in objects]
        if from_backups:
            click.echo(
                f"note: {len(from_backups)} object(s) from the newest backup of nodes without a cluster manifest: "
                "spans flushed since that backup are not in them",
                err=True,
            )
        if as_json:
            emit_json({"project_id": project_id, "base": root, "objects": [
                {**o.as_dict(), "url": url} for o, url in zip(objects, urls, strict=True)
            ]})  # fmt: skip
        elif as_sql:
            click.echo(duckdb_sql(urls), nl=False)
        else:
            sys.stdout.write("".join(f"{url}\n" for url in urls))


def _newest_backups(store: ObjectStore, project_id: str, published: set[str]) -> list[ArchiveObject]:
    """The project's objects in the newest backup of every node that has no cluster manifest."""
    from lynex_box.cluster.archive import ArchiveObject
    from lynex_box.lifecycle.backup import Manifest, list_backups

    newest: dict[str, Manifest] = {}
    for manifest in list_backups(store):  # oldest first: the last of a node wins
        if manifest.node_id not in published:
            newest[manifest.node_id] = manifest
    return [
        ArchiveObject(s.key, node, s.project_id, s.row_count, s.bytes, s.min_time, s.max_time)
        for node, manifest in sorted(newest.items())
        for s in manifest.segments
        if s.project_id == project_id
    ]


def _default_base(bucket: BucketSettings) -> str:
    if bucket.type == "directory":
        return bucket.directory
    prefix = bucket.prefix.strip("/")
    return f"s3://{bucket.bucket}/{prefix}" if prefix else f"s3://{bucket.bucket}"

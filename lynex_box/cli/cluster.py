"""`lynex-box cluster status`: the nodes of the cluster on the configured bucket, their liveness and leases.

Argument parsing and output only; the reading is `lynex_box.cluster.status`. It reads the bucket of `[bucket]`
(and `[cluster] lease_ttl_s` to tell live nodes from down ones), writes nothing, and needs no data dir, so it runs
from any machine with the node's lynex.toml.
"""

from __future__ import annotations

import datetime as dt

import click
from rich.table import Table

from lynex_box.cli.common import emit_table, refusing, settings_for


@click.group("cluster")
def cluster_group() -> None:
    """Inspect cluster mode: the nodes sharing this bucket."""


@cluster_group.command("status")
@click.option("--config", type=click.Path(dir_okay=False), help="lynex.toml to load")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def status(config: str | None, as_json: bool) -> None:
    """List the nodes (id, version, address, last heartbeat, alive) and the leases each holds."""
    from lynex_box.cluster import ClusterError, cluster_status
    from lynex_box.lifecycle.bucket import BucketConfigError, open_bucket
    from lynex_box.objstore import ObjectStoreError

    settings = settings_for(config, None, existing=False)
    with refusing(BucketConfigError, ObjectStoreError, ClusterError):
        store = open_bucket(settings.bucket)
        if store is None:
            raise click.ClickException(
                "[bucket] type = 'none': a cluster lives in an S3-compatible bucket; hint: pass the --config of a "
                "node of the cluster"
            )
        found = cluster_status(store, lease_ttl_s=settings.cluster.lease_ttl_s)
    payload = found.as_dict()
    title = f"cluster {payload['cluster_id']}" if payload["cluster_id"] else "no cluster founded on this bucket prefix"
    table = Table("node_id", "version", "address", "last heartbeat", "alive", "leases", title=title)
    for node in payload["nodes"]:
        table.add_row(
            node["node_id"], node["version"], node["address"], _when(node["heartbeat_at"], node["age_s"]),
            "yes" if node["alive"] else "no", ", ".join(node["leases"]),
        )  # fmt: skip
    emit_table(as_json, payload, table)


def _when(heartbeat_at: int, age_s: float) -> str:
    if heartbeat_at == 0:
        return "stopped"
    at = dt.datetime.fromtimestamp(heartbeat_at / 1e6, dt.UTC).isoformat(timespec="seconds")
    return f"{at} ({age_s:.1f} s ago)"

"""`lynex-box run|init|doctor`: start the appliance, create a data dir, check a machine before starting."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from lynex_box import __version__, fsutil
from lynex_box.auth.bootstrap import bootstrap_if_empty, write_credentials_file
from lynex_box.cli.common import console, data_dir_options, emit_json, open_meta, refusing, settings_for
from lynex_box.config import Settings
from lynex_box.meta.db import MetaDB
from lynex_box.segments.keywrap import KekError, check_source


@click.command()
@data_dir_options(as_json=False)
@click.option("--host", help="address to listen on (127.0.0.1)")
@click.option("--port", type=int, help="port (4318, the OTLP/HTTP default)")
@click.option("--otlp-grpc-port", type=int, help="OTLP/gRPC port (4317, the OTLP/gRPC default; 0 = off)")
@click.option("--dev", is_flag=True, default=None, help="also accept unauthenticated ingest from loopback")
@click.option(
    "--read-only", is_flag=True, default=None,
    help="serve queries and the UI, answer ingest and admin writes 503, write nothing ([server] read_only)",
)  # fmt: skip
def run(
    config: str | None,
    data_dir: str | None,
    host: str | None,
    port: int | None,
    otlp_grpc_port: int | None,
    dev: bool | None,
    read_only: bool | None,
) -> None:
    """Start the appliance."""
    from lynex_box.logs import setup_logging
    from lynex_box.server import ServerFailed, claim_port, serve
    from lynex_box.upgrade import refuse_newer

    given = {"host": host, "port": port, "otlp_grpc_port": otlp_grpc_port, "dev": dev, "read_only": read_only}
    settings = settings_for(config, data_dir, existing=bool(read_only), **given)  # read-only: never a new one
    with refusing(KekError):
        check_source(settings.encryption, settings.data_dir)  # refused before anything starts
    refuse_newer(settings)  # a newer release's data dir: said here, before anything opens or changes it
    with refusing(ServerFailed):
        claim_port(settings.server.host, settings.server.port)  # a taken port: refused before anything is created
    setup_logging(logging.getLevelNamesMapping()[settings.server.log_level.upper()])
    created = None
    if not settings.server.read_only:  # a read-only start creates nothing, not even the first user
        with open_meta(settings, existing=False) as db:
            created = bootstrap_if_empty(db) if _may_create_first_user(settings, db) else None
    saved = write_credentials_file(settings.data_dir, created) if created is not None else None
    base = settings.server.public_url or f"http://{settings.server.host}:{settings.server.port}"
    console.print(f"[bold green]Lynex Box {__version__}[/] data dir [bold]{settings.data_dir.resolve()}[/]")
    console.print(f"  UI:   {base}/")
    console.print(f"  API:  {base}/v1/projects/<project_id>/...   OTLP: {base}/v1/traces   docs: {base}/openapi.json")
    if settings.server.otlp_grpc_port:
        console.print(f"  OTLP/gRPC: {settings.server.host}:{settings.server.otlp_grpc_port}")
    if created is not None:
        console.print(
            "[bold yellow]First start: save these now, they are not shown again[/] "
            f"(also written to {saved}: delete it once saved)",
            soft_wrap=True,  # a path cut by the terminal's width cannot be copied
        )
        click.echo(json.dumps(created.as_dict()))
    if settings.server.read_only:
        console.print("[bold yellow]READ-ONLY: queries and the UI serve; ingest and admin writes are answered 503.[/]")
    if settings.server.dev:
        console.print(
            "[bold red]DEV MODE: unauthenticated ingest from this machine goes into the default project. "
            "Never use --dev on a server others can reach.[/]"
        )
    with refusing(ServerFailed):
        serve(settings)


def _may_create_first_user(settings: Settings, db: MetaDB) -> bool:
    """The first start's credentials are for a single node or the node that founds a cluster: a node joining one
    gets its accounts from the cluster (not built yet: docs/cluster.md), and one with accounts of its own would be
    refused."""
    if not settings.cluster.enabled:
        return True
    from lynex_box.cluster import ClusterError
    from lynex_box.cluster.founding import founds_cluster
    from lynex_box.lifecycle.bucket import BucketConfigError, open_bucket
    from lynex_box.objstore import ObjectStoreError

    with refusing(BucketConfigError, ObjectStoreError, ClusterError):
        store = open_bucket(settings.bucket)
        assert store is not None, "[cluster] enabled needs a bucket (config.py checks it)"
        return founds_cluster(store, db)


@click.command()
@data_dir_options()
def init(config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Create the data dir with a default org, project, admin user and API key."""
    settings = settings_for(config, data_dir, existing=False)
    with open_meta(settings, existing=False) as db:
        created = bootstrap_if_empty(db)
    if created is None:
        raise click.ClickException(f"{settings.data_dir} is already initialised")
    write_credentials_file(settings.data_dir, created)
    emit_json(created.as_dict(), pretty=not as_json)


@click.command()
@data_dir_options(as_json=False)
def doctor(config: str | None, data_dir: str | None) -> None:
    """Check the data dir, its file modes, free disk, configuration and port."""
    settings = settings_for(config, data_dir, existing=False)
    checks: list[tuple[str, str, str]] = [("config", "ok", "valid")]
    directory = settings.data_dir
    exists = directory.exists()
    checks.append(
        (
            "data dir",
            "ok" if exists else "fail",
            str(directory.resolve()) if exists else "missing: run `lynex-box init`",
        )
    )
    loose: list[str] = []
    if exists:
        modes, loose = _modes_check(directory)
        checks.append(modes)
    probe = directory if exists else directory.resolve().parent
    free = shutil.disk_usage(probe).free
    ok_free = free > settings.ingest.min_free_disk_bytes * 2
    checks.append(("free disk", "ok" if ok_free else "fail", f"{free / 2**30:.1f} GiB"))
    checks.append(_port_check(settings.server.host, settings.server.port))
    if settings.server.otlp_grpc_port:
        checks.append(_port_check(settings.server.host, settings.server.otlp_grpc_port, "OTLP/gRPC port"))
    table = Table("check", "ok", "detail")
    shown = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
    for name, status, detail in checks:
        table.add_row(name, shown[status], detail)
    Console().print(table)
    for line in loose:
        click.echo(line)
    if any(status == "fail" for _, status, _ in checks):
        sys.exit(1)


def _port_check(host: str, port: int, name: str = "port") -> tuple[str, str, str]:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return (name, "fail", f"{host}:{port} in use ({exc.strerror})")
    return (name, "ok", f"{host}:{port} free")


def _modes_check(directory: Path) -> tuple[tuple[str, str, str], list[str]]:
    """The file-modes check and the lines listing (up to 20 of) the paths other local users may read or enter."""
    loose, total = fsutil.loose_paths(directory, limit=20)
    if not total:
        return ("file modes", "ok", "private (directories 0700, files 0600)"), []
    lines = [f"  {oct(mode)[2:]:>4} {path}" for path, mode in loose]
    if total > len(loose):
        lines.append(f"  … and {total - len(loose)} more")
    detail = f"{total} path(s) open to other users (below); hint: chmod -R go-rwx {directory}"
    return ("file modes", "warn", detail), [f"{total} path(s) open to other users:", *lines]

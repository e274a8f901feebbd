"""The `lynex-box` command: parses arguments and calls into the package, nothing more."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from lynex_box import __version__, private_files
from lynex_box.auth import admin
from lynex_box.auth.bootstrap import bootstrap_if_empty
from lynex_box.auth.keywrap import KekError, check_source
from lynex_box.config import ConfigError, Settings, load_settings
from lynex_box.meta.db import MetaDB

console = Console(stderr=True)


def _settings(config: str | None, data_dir: str | None, **server: Any) -> Settings:
    overrides = {"server": {"data_dir": data_dir, **server}}
    try:
        return load_settings(Path(config) if config else None, overrides=overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _meta(settings: Settings) -> MetaDB:
    private_files.prepare_data_dir(settings.data_dir)
    return MetaDB(settings.data_dir / "meta.db")


def _emit(as_json: bool, payload: Any, table: Table | None = None) -> None:
    if as_json or table is None:
        click.echo(json.dumps(payload, indent=None if as_json else 2, default=str))
    else:
        Console().print(table)


config_option = click.option("--config", type=click.Path(dir_okay=False), help="lynex.toml to load")
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (./lynex-data)")
json_option = click.option("--json", "as_json", is_flag=True, help="print JSON")


@click.group()
@click.version_option(__version__)
def main() -> None:
    """Lynex Box: observability for LLM applications in one process."""


@main.command()
@config_option
@data_dir_option
@click.option("--host", help="address to listen on (127.0.0.1)")
@click.option("--port", type=int, help="port (4318, the OTLP/HTTP default)")
@click.option("--dev", is_flag=True, default=None, help="also accept unauthenticated ingest from loopback")
def run(config: str | None, data_dir: str | None, host: str | None, port: int | None, dev: bool | None) -> None:
    """Start the appliance."""
    from lynex_box.logs import setup_logging
    from lynex_box.server import serve

    settings = _settings(config, data_dir, host=host, port=port, dev=dev)
    try:
        check_source(settings.encryption, settings.data_dir)  # refused before anything starts
    except KekError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging(logging.getLevelNamesMapping()[settings.server.log_level.upper()])
    db = _meta(settings)
    created = bootstrap_if_empty(db)
    db.close()
    base = settings.server.public_url or f"http://{settings.server.host}:{settings.server.port}"
    console.print(f"[bold green]Lynex Box {__version__}[/] data dir [bold]{settings.data_dir.resolve()}[/]")
    console.print(f"  UI:   {base}/")
    console.print(f"  API:  {base}/v1/projects/<project_id>/...   OTLP: {base}/v1/traces   docs: {base}/openapi.json")
    if created is not None:
        console.print("[bold yellow]First start: save these now, they are not shown again[/]")
        click.echo(json.dumps(created.as_dict()))
    if settings.server.dev:
        console.print(
            "[bold red]DEV MODE: unauthenticated ingest from this machine goes into the default project. "
            "Never use --dev on a server others can reach.[/]"
        )
    serve(settings)


@main.command()
@config_option
@data_dir_option
@json_option
def init(config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Create the data dir with a default org, project, admin user and API key."""
    settings = _settings(config, data_dir)
    db = _meta(settings)
    try:
        created = bootstrap_if_empty(db)
    finally:
        db.close()
    if created is None:
        raise click.ClickException(f"{settings.data_dir} is already initialised")
    _emit(as_json, created.as_dict())


@main.group()
def projects() -> None:
    """Create and list projects."""


@projects.command("create")
@click.argument("name")
@config_option
@data_dir_option
@json_option
def projects_create(name: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    db = _meta(_settings(config, data_dir))
    try:
        project_id = admin.create_project(db, name)
    except admin.AdminError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.close()
    _emit(as_json, {"project_id": project_id, "name": name})


@projects.command("list")
@config_option
@data_dir_option
@json_option
def projects_list(config: str | None, data_dir: str | None, as_json: bool) -> None:
    db = _meta(_settings(config, data_dir))
    rows = admin.list_projects(db)
    db.close()
    table = Table("project_id", "name", "org_id")
    for r in rows:
        table.add_row(r["project_id"], r["name"], r["org_id"])
    _emit(as_json, rows, table)


@main.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--project", "project_id", required=True)
@click.option("--scope", type=click.Choice(["ingest", "read", "admin"]), default="admin", show_default=True)
@click.option("--name", default="")
@config_option
@data_dir_option
@json_option
def keys_create(
    project_id: str, scope: str, name: str, config: str | None, data_dir: str | None, as_json: bool
) -> None:
    db = _meta(_settings(config, data_dir))
    try:
        key = admin.create_key(db, project_id, scope, name)
    except admin.AdminError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.close()
    _emit(as_json, {"api_key": key.api_key, "project_id": key.project_id, "scope": key.scope, "key_id": key.key_id})


@keys.command("list")
@click.option("--project", "project_id")
@config_option
@data_dir_option
@json_option
def keys_list(project_id: str | None, config: str | None, data_dir: str | None, as_json: bool) -> None:
    db = _meta(_settings(config, data_dir))
    rows = admin.list_keys(db, project_id)
    db.close()
    table = Table("key_id", "prefix", "project_id", "scope", "revoked")
    for r in rows:
        table.add_row(r["key_id"], r["prefix"], r["project_id"], r["scope"], "yes" if r["revoked_at"] else "")
    _emit(as_json, rows, table)


@keys.command("revoke")
@click.argument("key_id")
@config_option
@data_dir_option
@json_option
def keys_revoke(key_id: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Revoke a key by id or prefix; the server stops accepting it within seconds."""
    db = _meta(_settings(config, data_dir))
    done = admin.revoke_key(db, key_id)
    db.close()
    if not done:
        raise click.ClickException(f"no active key {key_id!r}")
    click.echo(json.dumps({"revoked": key_id}))


@main.command()
@click.option("--project", "project_id", required=True)
@click.option("--sql", default="SELECT name, model, count(*) AS spans, sum(total_cost) AS cost FROM spans GROUP BY ALL")
@config_option
@data_dir_option
@json_option
def query(project_id: str, sql: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Run a read-only SQL query over one project's spans (a relation named `spans`)."""
    from lynex_box.cli_query import run_query

    settings = _settings(config, data_dir)
    try:
        rows = run_query(settings, project_id, sql)
    except Exception as exc:
        raise click.ClickException(str(exc)) from None
    table = Table(*(rows[0].keys() if rows else ["(no rows)"]))
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    _emit(as_json, rows, table)


@main.command()
@config_option
@data_dir_option
def doctor(config: str | None, data_dir: str | None) -> None:
    """Check the data dir, its file modes, free disk, configuration and port."""
    settings = _settings(config, data_dir)
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
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.server.host, settings.server.port))
            checks.append(("port", "ok", f"{settings.server.host}:{settings.server.port} free"))
        except OSError as exc:
            checks.append(("port", "fail", f"{settings.server.host}:{settings.server.port} in use ({exc.strerror})"))
    table = Table("check", "ok", "detail")
    shown = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
    for name, status, detail in checks:
        table.add_row(name, shown[status], detail)
    Console().print(table)
    for line in loose:
        click.echo(line)
    if any(status == "fail" for _, status, _ in checks):
        sys.exit(1)


def _modes_check(directory: Path) -> tuple[tuple[str, str, str], list[str]]:
    """The file-modes check and the lines listing (up to 20 of) the paths other local users may read or enter."""
    loose, total = private_files.loose_paths(directory, limit=20)
    if not total:
        return ("file modes", "ok", "private (directories 0700, files 0600)"), []
    lines = [f"  {oct(mode)[2:]:>4} {path}" for path, mode in loose]
    if total > len(loose):
        lines.append(f"  … and {total - len(loose)} more")
    detail = f"{total} path(s) open to other users (below); hint: chmod -R go-rwx {directory}"
    return ("file modes", "warn", detail), [f"{total} path(s) open to other users:", *lines]


def _register_prices() -> None:
    from lynex_box.cli_prices import prices
    from lynex_box.cli_reprice import reprice

    main.add_command(prices)
    main.add_command(reprice)


_register_prices()


def _register_lifecycle() -> None:
    from lynex_box.cli_lifecycle import register

    register(main, projects)


_register_lifecycle()


def _register_users() -> None:
    from lynex_box.cli_users import users_group

    main.add_command(users_group)


_register_users()


def _register_encryption() -> None:
    from lynex_box.cli_encryption import encryption_group

    main.add_command(encryption_group)


_register_encryption()

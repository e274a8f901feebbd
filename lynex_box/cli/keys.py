"""`lynex-box keys create|list|revoke`: API keys in meta.db. Safe while the server runs: it sees a revoked key
within seconds."""

from __future__ import annotations

import click
from rich.table import Table

from lynex_box.auth import admin
from lynex_box.cli.common import data_dir_options, emit_json, emit_table, open_meta, refusing, settings_for


@click.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--project", "project_id", required=True)
@click.option("--scope", type=click.Choice(["ingest", "read", "admin"]), default="admin", show_default=True)
@click.option("--name", default="")
@data_dir_options()
def keys_create(
    project_id: str, scope: str, name: str, config: str | None, data_dir: str | None, as_json: bool
) -> None:
    with open_meta(settings_for(config, data_dir, existing=False), existing=False) as db, refusing(admin.AdminError):
        key = admin.create_key(db, project_id, scope, name)
    payload = {"api_key": key.api_key, "project_id": key.project_id, "scope": key.scope, "key_id": key.key_id}
    emit_json(payload, pretty=not as_json)


@keys.command("list")
@click.option("--project", "project_id")
@data_dir_options()
def keys_list(project_id: str | None, config: str | None, data_dir: str | None, as_json: bool) -> None:
    with open_meta(settings_for(config, data_dir, existing=False), existing=False) as db:
        rows = admin.list_keys(db, project_id)
    table = Table("key_id", "prefix", "project_id", "scope", "revoked")
    for r in rows:
        table.add_row(r["key_id"], r["prefix"], r["project_id"], r["scope"], "yes" if r["revoked_at"] else "")
    emit_table(as_json, rows, table)


@keys.command("revoke")
@click.argument("key_id")
@data_dir_options()
def keys_revoke(key_id: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Revoke a key by id or prefix; the server stops accepting it within seconds."""
    with open_meta(settings_for(config, data_dir, existing=False), existing=False) as db:
        done = admin.revoke_key(db, key_id)
    if not done:
        raise click.ClickException(f"no active key {key_id!r}")
    emit_json({"revoked": key_id})

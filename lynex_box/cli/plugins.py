"""`lynex-box plugins list|enable|disable`: plugins turned on and configured per project, in meta.db
(docs/plugins.md "Per project").

Safe while the server runs: it reads the table again every `[plugins] project_reload_s` seconds. Secret values are
sealed with the alerts secrets key of the data dir, as the server does. In cluster mode the writes are refused: a
change must go through the API, which writes it on the metadata lease holder, whence it reaches every node.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from lynex_box.alerts.sealing import DEFAULT_KEY_FILE, SealError, SecretBox
from lynex_box.auth.admin import CLI_ACTOR, project_exists
from lynex_box.cli.common import data_dir_options, emit_json, emit_table, open_meta, refusing, settings_for
from lynex_box.config import Settings
from lynex_box.meta import project_plugins as store
from lynex_box.plugins.host import declaration

project_option = click.option("--project", "project_id", required=True, help="project id")


@click.group("plugins")
def plugins_group() -> None:
    """Turn plugins on and configure them per project."""


@plugins_group.command("list")
@click.option("--project", "project_id", default=None, help="one project's plugins (default: every project's)")
@data_dir_options()
def plugins_list(project_id: str | None, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """The plugins [plugins] enabled names and the projects' settings of them (secret values masked)."""
    settings = settings_for(config, data_dir, existing=True)
    with open_meta(settings) as db:
        rows = store.list_all(db) if project_id is None else list(store.list_for(db, project_id).values())
    p = settings.plugins
    items: list[dict[str, Any]] = []
    if project_id is not None:
        stored = {r.plugin: r for r in rows}
        for name in sorted(set(p.enabled) | set(stored)):
            row = stored.get(name)
            on = row.enabled if row is not None else (name in p.enabled and name not in p.per_project)
            items.append({"project_id": project_id, "name": name, "in_lynex_toml": name in p.enabled,
                          "per_project": name in p.per_project,
                          **(row.as_dict() if row is not None else {"config": {}}), "enabled": on})  # fmt: skip
    else:
        items = [{"project_id": r.project_id, "name": r.plugin, **r.as_dict()} for r in rows]
    table = Table("project_id", "plugin", "enabled", "config", "updated_by")
    for item in items:
        table.add_row(item["project_id"], item["name"], "yes" if item["enabled"] else "",
                      json.dumps(item["config"]), str(item.get("updated_by") or ""))  # fmt: skip
    emit_table(as_json, items, table)


def _config(config_json: str | None, pairs: tuple[str, ...]) -> dict[str, Any] | None:
    """--config-json's object with each --set k=v over it (v parsed as JSON when it is, else kept as a string)."""
    if config_json is None and not pairs:
        return None
    doc: Any = {}
    if config_json is not None:
        try:
            doc = json.loads(config_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--config-json") from None
        if not isinstance(doc, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--config-json")
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--set")
        try:
            doc[key] = json.loads(value)
        except ValueError:
            doc[key] = value
    return dict(doc)


def _box(settings: Settings) -> SecretBox:
    a = settings.alerts
    return SecretBox.from_file(Path(a.secrets_key_file) if a.secrets_key_file else settings.data_dir / DEFAULT_KEY_FILE)


def _write(settings: Settings, project_id: str, name: str, enabled: bool, config: dict[str, Any] | None) -> None:
    if settings.cluster.enabled:
        raise click.ClickException(
            "this data dir is a node of a cluster: a change made here would reach no other node; hint: use "
            f"PUT /api/projects/{project_id}/plugins/{name} (or Settings → Plugins in the UI) on a running node"
        )
    found = declaration(settings.plugins, name)
    if found is None:
        raise click.ClickException(f"no plugin {name!r} is in [plugins] enabled and installed; hint: lynex.toml")
    per_project, declared = found
    if not per_project:
        raise click.ClickException(
            f"the plugin {name!r} runs for the whole instance; hint: list it in [plugins] per_project"
        )
    limit = settings.plugins.max_project_config_bytes
    if config is not None and len(json.dumps(config, separators=(",", ":")).encode()) > limit:
        raise click.ClickException(f"the configuration is over {limit} bytes ([plugins] max_project_config_bytes)")
    with open_meta(settings) as db, refusing(store.ConfigRefused, SealError):
        if not project_exists(db, project_id):
            raise click.ClickException(f"no project {project_id!r}")
        row = store.put(db, _box(settings), project_id, name, enabled, config, declared, CLI_ACTOR)
    emit_json({"project_id": project_id, "name": name, **row.as_dict()})


@plugins_group.command("enable")
@click.argument("name")
@project_option
@click.option("--config-json", "config_json", default=None, help="the configuration, a JSON object")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="one key of the configuration (repeatable)")
@data_dir_options(as_json=False)
def plugins_enable(
    name: str, project_id: str, config_json: str | None, pairs: tuple[str, ...], config: str | None,
    data_dir: str | None,
) -> None:  # fmt: skip
    """Turn the plugin NAME on for a project (with --config-json/--set: its configuration; else the stored one)."""
    settings = settings_for(config, data_dir, existing=True)
    _write(settings, project_id, name, True, _config(config_json, pairs))


@plugins_group.command("disable")
@click.argument("name")
@project_option
@data_dir_options(as_json=False)
def plugins_disable(name: str, project_id: str, config: str | None, data_dir: str | None) -> None:
    """Turn the plugin NAME off for a project (its configuration is kept)."""
    _write(settings_for(config, data_dir, existing=True), project_id, name, False, None)

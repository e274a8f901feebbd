"""`lynex-box projects create|list|set-retention|set-hot-window|set-pii`: projects and their per-project settings in
meta.db. Safe while the server runs: it reads these settings from meta.db as it applies them."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from lynex_box.auth import admin
from lynex_box.auth import projects as project_settings
from lynex_box.cli.common import data_dir_options, emit, emit_json, emit_table, open_meta, refusing, settings_for
from lynex_box.pii import store as pii_store

HOT_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


@click.group()
def projects() -> None:
    """Create and list projects."""


@projects.command("create")
@click.argument("name")
@data_dir_options()
def projects_create(name: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    with open_meta(settings_for(config, data_dir, existing=False), existing=False) as db, refusing(admin.AdminError):
        project_id = admin.create_project(db, name)
    emit_json({"project_id": project_id, "name": name}, pretty=not as_json)


@projects.command("list")
@data_dir_options()
def projects_list(config: str | None, data_dir: str | None, as_json: bool) -> None:
    with open_meta(settings_for(config, data_dir, existing=False), existing=False) as db:
        rows = admin.list_projects(db)
    table = Table("project_id", "name", "org_id")
    for r in rows:
        table.add_row(r["project_id"], r["name"], r["org_id"])
    emit_table(as_json, rows, table)


def _update(config: str | None, data_dir: str | None, project_id: str, changes: dict[str, Any]) -> bool:
    """Apply `changes` to the project's settings as the command line; whether anything changed."""
    with open_meta(settings_for(config, data_dir, existing=True)) as db, refusing(Exception):
        return bool(db.write(lambda c: project_settings.update(c, admin.CLI_ACTOR, project_id, changes)))


@projects.command("set-retention")
@click.argument("project_id")
@click.argument("days")
@data_dir_options()
def set_retention(project_id: str, days: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Keep PROJECT_ID's spans DAYS days, 0 for ever ("default": the [retention] days of lynex.toml)."""
    value: int | None = None if days == "default" else int(days) if days.isdigit() else -1
    changed = _update(config, data_dir, project_id, {"retention_days": value})
    shown = "the default" if value is None else f"{value} days"
    payload = {"project_id": project_id, "retention_days": value, "changed": changed}
    emit(as_json, payload, f"{project_id}: retention is {shown}; queries apply it at once")


def parse_duration_s(value: str) -> int | None:
    """Whole seconds from `N`, `Ns`, `Nm`, `Nh` or `Nd`; "default" is None; anything else -1 (refused later)."""
    if value == "default":
        return None
    text = value.strip().lower()
    unit = HOT_WINDOW_UNITS.get(text[-1:], 0) if text[-1:].isalpha() else 1
    number = text[:-1] if text[-1:].isalpha() else text
    return int(number) * unit if number.isdigit() and unit else -1


@projects.command("set-hot-window")
@click.argument("project_id")
@click.argument("window")
@data_dir_options()
def set_hot_window(project_id: str, window: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Keep PROJECT_ID's segments on local disk for WINDOW (seconds, or 12h, 7d...) before they are offloaded
    to the bucket ("default": the [offload] hot_window_s of lynex.toml)."""
    value = parse_duration_s(window)
    changed = _update(config, data_dir, project_id, {"hot_window_s": value})
    shown = "the default" if value is None else f"{value} s"
    payload = {"project_id": project_id, "hot_window_s": value, "changed": changed}
    emit(as_json, payload, f"{project_id}: hot window is {shown}; applied on the next offload pass")


@projects.command("set-sample-text")
@click.argument("project_id")
@click.argument("fraction")
@data_dir_options()
def set_sample_text(project_id: str, fraction: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Keep the raw text (prompts, completions, tool arguments) of FRACTION of PROJECT_ID's traces, 0..1 ("all" or 1:
    every trace); errors and flagged spans always keep theirs, tokens and costs are kept for every span."""
    value: float | str
    try:
        value = 1.0 if fraction == "all" else float(fraction)
    except ValueError:
        value = fraction  # refused by the settings' own check, with its message
    changed = _update(config, data_dir, project_id, {"sample_text": value})
    payload = {"project_id": project_id, "sample_text": value, "changed": changed}
    emit(as_json, payload, f"{project_id}: raw text is kept for {value} of traces; applied to spans ingested from now")


@projects.command("set-pii")
@click.argument("project_id")
@click.argument("mode", type=click.Choice(["off", "detect", "redact"]))
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    metavar="NAME=REGEX",
    help="A custom pattern (RE2 syntax), masked as [CUSTOM:NAME]; repeat for more. Replaces the list.",
)
@click.option(
    "--mask-key",
    "keys",
    multiple=True,
    metavar="KEY",
    help="An attribute key whose value is always masked; repeat for more. Replaces the list.",
)
@click.option("--clear-patterns", is_flag=True, help="Remove every custom pattern.")
@click.option("--clear-keys", is_flag=True, help="Remove every masked attribute key.")
@data_dir_options()
def set_pii(project_id: str, mode: str, patterns: tuple[str, ...], keys: tuple[str, ...], clear_patterns: bool,
            clear_keys: bool, config: str | None, data_dir: str | None, as_json: bool) -> None:  # fmt: skip
    """Detect (the `pii` column) or redact PII in PROJECT_ID's spans from now on; off stores text as sent
    (docs/pii.md). Custom patterns and masked keys stay as they were unless given or cleared."""
    change: dict[str, Any] = {"mode": mode}
    if patterns or clear_patterns:
        pairs = [p.partition("=") for p in patterns]
        if any(not sep for _, sep, _ in pairs):
            raise click.UsageError("--pattern takes NAME=REGEX, e.g. --pattern 'acct=ACCT-[0-9]{6}'")
        change["custom_patterns"] = [{"name": n, "pattern": r} for n, _, r in pairs]
    if keys or clear_keys:
        change["masked_keys"] = list(keys)
    settings = settings_for(config, data_dir, existing=True)
    with open_meta(settings) as db, refusing(Exception):
        changed = db.write(lambda c: pii_store.update(c, admin.CLI_ACTOR, project_id, change, settings.pii))
        shown = pii_store.read_policy(db, project_id, settings.pii)
    payload = {"project_id": project_id, "pii": shown, "changed": bool(changed)}
    emit(as_json, payload, f"{project_id}: pii mode is {mode}; a running server applies it within seconds")

"""`lynex-box` commands of the data lifecycle: set-retention, set-hot-window, delete, rehydrate, backup, restore,
export.

Argument parsing only; the work is in `lynex_box.lifecycle`. Commands that change stored files (rehydrate,
backup) open the data dir's engine when no server holds it; beside a running server they record the request
(a pinned range) or work read-only (backup of what is published, export of what is in segments).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from lynex_box import private_files
from lynex_box.config import ConfigError, Settings, load_settings
from lynex_box.meta.db import MetaDB

console = Console(stderr=True)
config_option = click.option("--config", type=click.Path(dir_okay=False), help="lynex.toml to load")
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (./lynex-data)")
json_option = click.option("--json", "as_json", is_flag=True, help="print JSON")


def _create(path: Path) -> BinaryIO:
    """An export's file, created 0600 (it holds the project's spans in plain text); an existing one keeps its mode."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, private_files.FILE_MODE), "wb")


def _settings(config: str | None, data_dir: str | None) -> Settings:
    try:
        return load_settings(Path(config) if config else None, overrides={"server": {"data_dir": data_dir}})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _existing(settings: Settings) -> Settings:
    if not (settings.data_dir / "meta.db").exists():
        raise click.ClickException(f"no meta.db in {settings.data_dir}; hint: run `lynex-box init` first")
    return settings


def _emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(payload, default=str) if as_json else text)


def parse_time(value: str | None, name: str) -> int | None:
    """Epoch microseconds from epoch milliseconds, a date (UTC midnight) or an RFC 3339 time (UTC if no offset)."""
    if value is None:
        return None
    text = value.strip()
    try:
        if text.isdigit():
            return int(text) * 1000
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not epoch ms, a date or an RFC 3339 time", param_hint=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1_000_000)


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Progress]:
    with Progress(
        TextColumn(f"[bold]{label}[/]"), BarColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:  # fmt: skip
        yield progress


@click.command("set-retention")
@click.argument("project_id")
@click.argument("days")
@config_option
@data_dir_option
@json_option
def set_retention(project_id: str, days: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Keep PROJECT_ID's spans DAYS days, 0 for ever ("default": the [lifecycle] retention_days of lynex.toml)."""
    from lynex_box.auth import projects as project_settings
    from lynex_box.auth.admin import CLI_ACTOR

    value: int | None = None if days == "default" else int(days) if days.isdigit() else -1
    db = MetaDB(_existing(_settings(config, data_dir)).data_dir / "meta.db")
    try:
        changed = db.write(lambda c: project_settings.update(c, CLI_ACTOR, project_id, {"retention_days": value}))
    except Exception as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.close()
    shown = "the default" if value is None else f"{value} days"
    payload = {"project_id": project_id, "retention_days": value, "changed": bool(changed)}
    _emit(as_json, payload, f"{project_id}: retention is {shown}; queries apply it at once")


HOT_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration_s(value: str) -> int | None:
    """Whole seconds from `N`, `Ns`, `Nm`, `Nh` or `Nd`; "default" is None; anything else -1 (refused later)."""
    if value == "default":
        return None
    text = value.strip().lower()
    unit = HOT_WINDOW_UNITS.get(text[-1:], 0) if text[-1:].isalpha() else 1
    number = text[:-1] if text[-1:].isalpha() else text
    return int(number) * unit if number.isdigit() and unit else -1


@click.command("set-hot-window")
@click.argument("project_id")
@click.argument("window")
@config_option
@data_dir_option
@json_option
def set_hot_window(project_id: str, window: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Keep PROJECT_ID's segments on local disk for WINDOW (seconds, or 12h, 7d...) before they are offloaded
    to the bucket ("default": the [lifecycle] hot_window_s of lynex.toml)."""
    from lynex_box.auth import projects as project_settings
    from lynex_box.auth.admin import CLI_ACTOR

    value = parse_duration_s(window)
    db = MetaDB(_existing(_settings(config, data_dir)).data_dir / "meta.db")
    try:
        changed = db.write(lambda c: project_settings.update(c, CLI_ACTOR, project_id, {"hot_window_s": value}))
    except Exception as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.close()
    shown = "the default" if value is None else f"{value} s"
    payload = {"project_id": project_id, "hot_window_s": value, "changed": bool(changed)}
    _emit(as_json, payload, f"{project_id}: hot window is {shown}; applied on the next offload pass")


@click.command("delete")
@click.option("--project", "project_id", required=True)
@click.option("--trace", "trace_id", help="delete every span of this trace")
@click.option("--session", "session_id", help="delete this session and every trace in it")
@click.option("--user", "user_id", help="delete this end user's spans, traces and sessions (GDPR erasure)")
@config_option
@data_dir_option
@json_option
def delete_data(
    project_id: str, trace_id: str | None, session_id: str | None, user_id: str | None,
    config: str | None, data_dir: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Delete a trace, a session or an end user's data: hidden from queries now, purged from files soon."""
    from lynex_box.auth.admin import CLI_ACTOR
    from lynex_box.lifecycle.deletion import DeletionError
    from lynex_box.lifecycle.standalone import reader

    chosen = [(k, v) for k, v in (("trace", trace_id), ("session", session_id), ("user", user_id)) if v]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --trace, --session or --user")
    kind, value = chosen[0]
    settings = _existing(_settings(config, data_dir))
    with reader(settings) as r:  # the published segments, to look up the traces and sessions a deletion covers
        try:
            tomb, complete = r.lifecycle.delete(project_id, kind, value, CLI_ACTOR)
        except DeletionError as exc:
            raise click.ClickException(str(exc)) from None
    due = dt.datetime.fromtimestamp(tomb.due_at / 1e6, dt.UTC).isoformat()
    payload = {"project_id": project_id, "kind": kind, "id": value, "tombstone": tomb.id, "purge_by": due,
               "scope_complete": complete}  # fmt: skip
    _emit(as_json, payload, f"{kind} {value} deleted from queries now; purged from every file by {due}")


@click.command()
@click.option("--project", "project_id", required=True)
@click.option("--from", "from_", required=True, help="start: epoch ms, a date or an RFC 3339 time")
@click.option("--to", "to", required=True, help="end (exclusive)")
@click.option("--unpin", is_flag=True, help="release every pinned range of the project instead")
@config_option
@data_dir_option
@json_option
def rehydrate(
    project_id: str, from_: str, to: str, unpin: bool, config: str | None, data_dir: str | None, as_json: bool
) -> None:
    """Pin a time range of a project to local disk, fetching its offloaded segments back from the bucket."""
    from lynex_box.lifecycle.offload import pin
    from lynex_box.lifecycle.offload import unpin as release
    from lynex_box.lifecycle.standalone import engine_or_none

    settings = _existing(_settings(config, data_dir))
    db = MetaDB(settings.data_dir / "meta.db")
    try:
        if unpin:
            _emit(as_json, {"released": release(db, project_id)}, f"pinned ranges of {project_id} released")
            return
        lo, hi = parse_time(from_, "--from"), parse_time(to, "--to")
        assert lo is not None and hi is not None
        try:
            pin(db, project_id, lo, hi, time.time_ns() // 1000)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    finally:
        db.close()
    with engine_or_none(settings) as engine:
        if engine is None:
            _emit(as_json, {"pinned": True, "fetched": None},
                  "range pinned; the running server fetches it on its next offload pass")  # fmt: skip
            return
        with console.status("fetching segments from the bucket"):
            fetched = engine.lifecycle.rehydrate()
    _emit(as_json, {"pinned": True, "fetched": fetched}, f"range pinned; {fetched} segment(s) fetched to local disk")


@click.command()
@click.option("--to", "to_dir", type=click.Path(file_okay=False), help="a directory (default: the bucket)")
@click.option("--keep", type=int, help="backups to keep (default: [lifecycle] backup_keep)")
@click.option("--list", "list_only", is_flag=True, help="list the backups instead")
@config_option
@data_dir_option
@json_option
def backup(
    to_dir: str | None, keep: int | None, list_only: bool, config: str | None, data_dir: str | None, as_json: bool
) -> None:
    """Back up meta.db (SQLite online backup) and every segment to the bucket or a directory."""
    from lynex_box.lifecycle.backup import list_backups
    from lynex_box.lifecycle.standalone import engine_or_none, reader

    settings = _existing(_settings(config, data_dir))
    with engine_or_none(settings) as engine:
        if engine is not None:
            engine.flush()  # everything acknowledged is in the backup
        with contextlib.ExitStack() as stack:
            lifecycle = engine.lifecycle if engine else stack.enter_context(reader(settings)).lifecycle
            target = lifecycle.backup_target(Path(to_dir) if to_dir else None)
            if target is None:
                raise click.ClickException("nowhere to back up to; hint: --to DIR, or set [bucket] or backup_dir")
            if list_only:
                found = [{"name": m.name, "node_id": m.node_id, "segments": len(m.segments)}
                         for m in list_backups(target[0])]  # fmt: skip
                _emit(as_json, {"backups": found}, "\n".join(f"{b['name']}  {b['segments']} segments" for b in found))
                return
            with _progress("backup") as progress:
                task = progress.add_task("segments", total=None)
                manifest = lifecycle.backup(
                    Path(to_dir) if to_dir else None, keep,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )  # fmt: skip
    note = "" if engine is not None else " (a server is running: its unflushed head is not included)"
    _emit(as_json, {"name": manifest.name, "segments": len(manifest.segments)},
          f"backup {manifest.name}: meta.db + {len(manifest.segments)} segments{note}")  # fmt: skip


@click.command()
@click.option("--from", "from_dir", type=click.Path(file_okay=False), help="a backup directory")
@click.option("--from-bucket", is_flag=True, help="the bucket of [bucket] in --config")
@click.option("--name", help="the backup to restore (default: the newest)")
@config_option
@click.option("--data-dir", type=click.Path(file_okay=False), required=True, help="the NEW data directory")
@json_option
def restore(
    from_dir: str | None, from_bucket: bool, name: str | None, config: str | None, data_dir: str, as_json: bool
) -> None:
    """Restore a backup into a new data dir (offloaded segments stay in the bucket)."""
    from lynex_box.lifecycle.backup import RestoreError
    from lynex_box.lifecycle.backup import restore as do_restore
    from lynex_box.lifecycle.bucket import open_bucket
    from lynex_box.objstore import LocalStore

    if bool(from_dir) == from_bucket:
        raise click.UsageError("give exactly one of --from DIR or --from-bucket")
    settings = _settings(config, data_dir)
    store = LocalStore(Path(from_dir)) if from_dir else open_bucket(settings.bucket)
    if store is None:
        raise click.ClickException("--from-bucket needs [bucket] in the --config file")
    try:
        with _progress("restore") as progress:
            task = progress.add_task("segments", total=None)
            manifest = do_restore(
                store, settings.data_dir, from_bucket, name,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )  # fmt: skip
    except RestoreError as exc:
        raise click.ClickException(str(exc)) from None
    payload = {"name": manifest.name, "segments": len(manifest.segments), "data_dir": str(settings.data_dir)}
    _emit(as_json, payload, f"restored {manifest.name} into {settings.data_dir}; start it with `lynex-box run`")


@click.command("export")
@click.option("--project", "project_id", required=True)
@click.option("--from", "from_", help="start: epoch ms, a date or an RFC 3339 time (default: the first span)")
@click.option("--to", "to", help="end, exclusive (default: after the last span)")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl", "csv"]), default="parquet", show_default=True)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, allow_dash=True), help="file, or -")
@config_option
@data_dir_option
def export_data(
    project_id: str, from_: str | None, to: str | None, fmt: str, output: str, config: str | None, data_dir: str | None
) -> None:
    """Export one project's spans as Parquet, JSON Lines or CSV."""
    from lynex_box.lifecycle.export import export
    from lynex_box.lifecycle.standalone import engine_or_none, reader

    settings = _existing(_settings(config, data_dir))
    lo, hi = parse_time(from_, "--from"), parse_time(to, "--to")
    with engine_or_none(settings) as engine, contextlib.ExitStack() as stack:
        query = engine.query if engine else stack.enter_context(reader(settings)).query
        sink: BinaryIO = sys.stdout.buffer if output == "-" else stack.enter_context(_create(Path(output)))
        with _progress("export") as progress:
            task = progress.add_task("0 rows", total=None)

            def step(done: int, total: int, rows: int) -> None:
                progress.update(task, completed=done, total=total, description=f"{rows} rows")

            rows = export(query, project_id, sink, fmt, lo, hi, settings.lifecycle.export_chunk_s, step)
    console.print(
        f"{rows} rows exported" + ("" if engine else " (a server is running: its unflushed head is not included)")
    )


def register(main: click.Group, projects: click.Group) -> None:
    projects.add_command(set_retention)
    projects.add_command(set_hot_window)
    for command in (delete_data, rehydrate, backup, restore, export_data):
        main.add_command(command)

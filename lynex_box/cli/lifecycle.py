"""`lynex-box delete|rehydrate|backup|restore|export`: the data lifecycle from the command line.

Argument parsing only; the work is in `lynex_box.lifecycle`. Commands that change stored files (rehydrate,
backup) open the data dir's engine when no server holds it; beside a running server they record the request
(a pinned range) or work read-only (backup of what is published, export of what is in segments).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import BinaryIO

import click

from lynex_box import fsutil
from lynex_box.cli.common import console, data_dir_options, emit, open_meta, parse_time, progress, settings_for

SERVER_HEAD_NOTE = " (a server is running: its unflushed head is not included)"


def _create(path: Path) -> BinaryIO:
    """An export's file, created 0600 (it holds the project's spans in plain text); an existing one keeps its mode."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, fsutil.FILE_MODE), "wb")


@click.command("delete")
@click.option("--project", "project_id", required=True)
@click.option("--trace", "trace_id", help="delete every span of this trace")
@click.option("--session", "session_id", help="delete this session and every trace in it")
@click.option("--user", "user_id", help="delete this end user's spans, traces and sessions (GDPR erasure)")
@data_dir_options()
def delete_data(
    project_id: str, trace_id: str | None, session_id: str | None, user_id: str | None,
    config: str | None, data_dir: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Delete a trace, a session or an end user's data: hidden from queries now, purged from files soon."""
    from lynex_box.auth.admin import CLI_ACTOR
    from lynex_box.engine import Engine
    from lynex_box.lifecycle.deletion import DeletionError

    chosen = [(k, v) for k, v in (("trace", trace_id), ("session", session_id), ("user", user_id)) if v]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --trace, --session or --user")
    kind, value = chosen[0]
    settings = settings_for(config, data_dir, existing=True)
    # the published segments, to look up the traces and sessions a deletion covers
    with Engine.open_read_only(settings) as r:
        try:
            tomb, complete = r.lifecycle.delete(project_id, kind, value, CLI_ACTOR)
        except DeletionError as exc:
            raise click.ClickException(str(exc)) from None
    due = dt.datetime.fromtimestamp(tomb.due_at / 1e6, dt.UTC).isoformat()
    payload = {"project_id": project_id, "kind": kind, "id": value, "tombstone": tomb.id, "purge_by": due,
               "scope_complete": complete}  # fmt: skip
    emit(as_json, payload, f"{kind} {value} deleted from queries now; purged from every file by {due}")


@click.command()
@click.option("--project", "project_id", required=True)
@click.option("--from", "from_", required=True, help="start: epoch ms, a date or an RFC 3339 time")
@click.option("--to", "to", required=True, help="end (exclusive)")
@click.option("--unpin", is_flag=True, help="release every pinned range of the project instead")
@data_dir_options()
def rehydrate(
    project_id: str, from_: str, to: str, unpin: bool, config: str | None, data_dir: str | None, as_json: bool
) -> None:
    """Pin a time range of a project to local disk, fetching its offloaded segments back from the bucket."""
    from lynex_box.engine import engine_or_none
    from lynex_box.lifecycle.offload import pin
    from lynex_box.lifecycle.offload import unpin as release

    settings = settings_for(config, data_dir, existing=True)
    with open_meta(settings) as db:
        if unpin:
            emit(as_json, {"released": release(db, project_id)}, f"pinned ranges of {project_id} released")
            return
        lo, hi = parse_time(from_, "--from"), parse_time(to, "--to")
        assert lo is not None and hi is not None
        try:
            pin(db, project_id, lo, hi, time.time_ns() // 1000)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    with engine_or_none(settings) as engine:
        if engine is None:
            emit(as_json, {"pinned": True, "fetched": None},
                 "range pinned; the running server fetches it on its next offload pass")  # fmt: skip
            return
        with console.status("fetching segments from the bucket"):
            fetched = engine.lifecycle.rehydrate()
    emit(as_json, {"pinned": True, "fetched": fetched}, f"range pinned; {fetched} segment(s) fetched to local disk")


@click.command()
@click.option("--to", "to_dir", type=click.Path(file_okay=False), help="a directory (default: the bucket)")
@click.option("--keep", type=int, help="backups to keep (default: [backup] keep)")
@click.option("--list", "list_only", is_flag=True, help="list the backups instead")
@data_dir_options()
def backup(
    to_dir: str | None, keep: int | None, list_only: bool, config: str | None, data_dir: str | None, as_json: bool
) -> None:
    """Back up meta.db (SQLite online backup) and every segment to the bucket or a directory."""
    from lynex_box.engine import Engine, engine_or_none
    from lynex_box.lifecycle.backup import backup_name, scan_backups

    settings = settings_for(config, data_dir, existing=True)
    with engine_or_none(settings) as engine:
        if engine is not None:
            engine.flush()  # everything acknowledged is in the backup
        with contextlib.ExitStack() as stack:
            lifecycle = engine.lifecycle if engine else stack.enter_context(Engine.open_read_only(settings)).lifecycle
            target = lifecycle.backup_target(Path(to_dir) if to_dir else None)
            if target is None:
                raise click.ClickException("nowhere to back up to; hint: --to DIR, or set [bucket] or [backup] dir")
            if list_only:
                readable, newer = scan_backups(target[0])
                found = [{"name": m.name, "node_id": m.node_id, "segments": len(m.segments)} for m in readable]
                # a newer release's backups are listed (by name, sorted in time with the others), not restorable here
                found += [{"name": backup_name(e.where), "too_new": str(e)} for e in newer]
                found.sort(key=lambda b: str(b["name"]))
                lines = [f"{b['name']}  " + (f"{b['segments']} segments" if "segments" in b else "written by a newer "
                         "release: not restorable by this one") for b in found]  # fmt: skip
                emit(as_json, {"backups": found}, "\n".join(lines))
                return
            with progress("backup", "segments") as step:
                manifest = lifecycle.backup(Path(to_dir) if to_dir else None, keep, progress=step)
    note = "" if engine is not None else SERVER_HEAD_NOTE
    emit(as_json, {"name": manifest.name, "segments": len(manifest.segments)},
         f"backup {manifest.name}: meta.db + {len(manifest.segments)} segments{note}")  # fmt: skip


@click.command()
@click.option("--from", "from_dir", type=click.Path(file_okay=False), help="a backup directory")
@click.option("--from-bucket", is_flag=True, help="the bucket of [bucket] in --config")
@click.option("--name", help="the backup to restore (default: the newest)")
@data_dir_options(data_dir_required=True, data_dir_help="the NEW data directory")
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
    settings = settings_for(config, data_dir, existing=False)
    store = LocalStore(Path(from_dir)) if from_dir else open_bucket(settings.bucket)
    if store is None:
        raise click.ClickException("--from-bucket needs [bucket] in the --config file")
    try:
        with progress("restore", "segments") as step:
            manifest = do_restore(store, settings.data_dir, from_bucket, name, progress=step)
    except RestoreError as exc:
        raise click.ClickException(str(exc)) from None
    payload = {"name": manifest.name, "segments": len(manifest.segments), "data_dir": str(settings.data_dir)}
    emit(as_json, payload, f"restored {manifest.name} into {settings.data_dir}; start it with `lynex-box run`")


@click.command("export")
@click.option("--project", "project_id", required=True)
@click.option("--from", "from_", help="start: epoch ms, a date or an RFC 3339 time (default: the first span)")
@click.option("--to", "to", help="end, exclusive (default: after the last span)")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl", "csv"]), default="parquet", show_default=True)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, allow_dash=True), help="file, or -")
@data_dir_options(as_json=False)
def export_data(
    project_id: str, from_: str | None, to: str | None, fmt: str, output: str, config: str | None, data_dir: str | None
) -> None:
    """Export one project's spans as Parquet, JSON Lines or CSV."""
    from lynex_box.engine import Engine, engine_or_none
    from lynex_box.lifecycle.export import export

    settings = settings_for(config, data_dir, existing=True)
    lo, hi = parse_time(from_, "--from"), parse_time(to, "--to")
    with engine_or_none(settings) as engine, contextlib.ExitStack() as stack:
        query = engine.query if engine else stack.enter_context(Engine.open_read_only(settings)).query
        sink: BinaryIO = sys.stdout.buffer if output == "-" else stack.enter_context(_create(Path(output)))
        with progress("export", "0 rows") as step:
            chunk_s = settings.api.export_chunk_s
            rows = export(query, project_id, sink, fmt, lo, hi, chunk_s, lambda d, t, n: step(d, t, f"{n} rows"))
    console.print(f"{rows} rows exported" + ("" if engine else SERVER_HEAD_NOTE))


COMMANDS = (delete_data, rehydrate, backup, restore, export_data)

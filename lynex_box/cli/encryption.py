"""`lynex-box encryption new-kek|enable|status|rotate-kek`: per-project encryption at rest from the command line.

`new-kek` makes a key-encryption key; `enable` encrypts a project's new segments from now on (what `PATCH
/api/projects/{id}/settings {"encryption": true}` does); `rotate-kek` wraps every data key with a new KEK without
rewriting a segment. `enable` and `rotate-kek` change what a running server holds in memory, so they run only
while no server holds the data dir (the API is the way then). Keys are printed only by `new-kek`, never logged.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click

from lynex_box import fsutil
from lynex_box.auth.admin import CLI_ACTOR, list_projects
from lynex_box.cli.common import data_dir_options, emit, emit_json, open_meta, refusing, settings_for
from lynex_box.config import Settings
from lynex_box.engine import DataDirBusy, lock_data_dir
from lynex_box.segments.datakeys import DataKeys
from lynex_box.segments.keywrap import KEY_BYTES, Kek, KekError, parse_key


def _offline(settings: Settings) -> int:
    try:
        return lock_data_dir(settings.data_dir)
    except DataDirBusy:
        raise click.ClickException(
            "a lynex-box server runs on this data dir; hint: use PATCH /api/projects/{id}/settings "
            '{"encryption": true} (admin key or session), or stop the server first'
        ) from None


@click.group("encryption")
def encryption_group() -> None:
    """Per-project encryption at rest of stored segments (docs/security.md)."""


@encryption_group.command("new-kek")
@click.option("--out", type=click.Path(dir_okay=False), help="write it to this new file (mode 0600) instead")
def new_kek(out: str | None) -> None:
    """Print a new key-encryption key (64 hex characters). Keep it outside the data directory, and keep a copy:
    losing it makes the encrypted projects' data unreadable."""
    text = secrets.token_bytes(KEY_BYTES).hex()
    if out is None:
        click.echo(text)
        return
    try:
        fd = fsutil.open_file(Path(out), os.O_WRONLY | os.O_EXCL)  # 0600
    except FileExistsError:
        raise click.ClickException(f"{out} exists; hint: a KEK is never overwritten, pick another name") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    click.echo(f"wrote a new KEK to {out}; set [encryption] kek_file = {json.dumps(str(Path(out).resolve()))}")


@encryption_group.command("enable")
@click.option("--project", "project_id", required=True)
@data_dir_options()
def enable(project_id: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Encrypt the project's segments from now on (new ones, and old ones as they are rewritten). One-way."""
    settings = settings_for(config, data_dir, existing=True)
    lock = _offline(settings)
    try:
        with open_meta(settings) as db, refusing(KekError, LookupError):
            created = DataKeys.open(settings.encryption, db, settings.data_dir).enable(project_id, CLI_ACTOR)
    finally:
        os.close(lock)
    payload = {"project_id": project_id, "encryption": True, "changed": created}
    emit(as_json, payload, f"project {project_id}: encryption on{'' if created else ' (was)'}")


@encryption_group.command("status")
@data_dir_options()
def status(config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Every project's encryption state, and whether the configured KEK opens its data key."""
    settings = settings_for(config, data_dir, existing=True)
    with open_meta(settings) as db, refusing(KekError):
        keys = DataKeys.open(settings.encryption, db, settings.data_dir)
        items = [{"project_id": p["project_id"], **keys.status(p["project_id"])} for p in list_projects(db)]
        fingerprint = keys.kek.fingerprint if keys.kek is not None else None
    emit_json({"kek_fingerprint": fingerprint, "projects": items}, pretty=not as_json)


@encryption_group.command("rotate-kek")
@click.option("--new-kek-file", required=True, type=click.Path(dir_okay=False, exists=True))
@data_dir_options()
def rotate_kek(new_kek_file: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Wrap every project data key with the KEK in --new-kek-file (the current one must be configured); then
    point [encryption] at the new file. No segment is rewritten."""
    settings = settings_for(config, data_dir, existing=True)
    lock = _offline(settings)
    try:
        with open_meta(settings) as db, refusing(KekError):
            new = Kek(parse_key(Path(new_kek_file).read_text(), f"--new-kek-file {new_kek_file!r}"))
            done = DataKeys.open(settings.encryption, db, settings.data_dir).rewrap(new)
    finally:
        os.close(lock)
    payload = {"rewrapped": done, "kek_fingerprint": new.fingerprint}
    emit(as_json, payload, f"{done} data key(s) now wrapped by KEK {new.fingerprint}")

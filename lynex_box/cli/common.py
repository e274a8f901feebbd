"""What every `lynex-box` command shares: the --config/--data-dir/--json options, the settings and meta.db
preamble, turning package errors into messages, printing JSON or a table, progress bars, and time arguments.

Argument handling and output only: nothing here knows what a command does. Progress, status lines and banners go
to standard error (`console`), so standard output holds only the command's answer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lynex_box import fsutil
from lynex_box.config import ConfigError, Settings, load_settings
from lynex_box.meta.db import MetaDB

F = TypeVar("F", bound=Callable[..., Any])

console = Console(stderr=True)


def data_dir_options(
    *, as_json: bool = True, data_dir_required: bool = False, data_dir_help: str = "data directory (./lynex-data)"
) -> Callable[[F], F]:
    """--config, --data-dir and (unless `as_json=False`) --json, passed as `config`, `data_dir` and `as_json`.

    Put it below a command's own options: the help lists them first, then these three.
    """
    options = [
        click.option(
            "--config",
            type=click.Path(dir_okay=False),
            envvar="LYNEX_CONFIG",
            help="lynex.toml to load ($LYNEX_CONFIG)",
        ),
        click.option("--data-dir", type=click.Path(file_okay=False), required=data_dir_required, help=data_dir_help),
    ]
    if as_json:
        options.append(click.option("--json", "as_json", is_flag=True, help="print JSON"))

    def decorate(command: F) -> F:
        for option in reversed(options):  # click lists options in the order their decorators are written
            command = option(command)
        return command

    return decorate


def _require_meta(settings: Settings) -> None:
    if not (settings.data_dir / "meta.db").exists():
        raise click.ClickException(f"no meta.db in {settings.data_dir}; hint: run `lynex-box init` first")


def settings_for(config: str | None, data_dir: str | None, *, existing: bool, **server: Any) -> Settings:
    """The settings of --config with --data-dir (and any other given [server] value) over them.

    With `existing`, a data dir without meta.db is refused with a hint to run `lynex-box init`.
    """
    overrides = {"server": {"data_dir": data_dir, **server}}
    try:
        settings = load_settings(Path(config) if config else None, overrides=overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if existing:
        _require_meta(settings)
    return settings


@contextlib.contextmanager
def open_meta(settings: Settings, *, existing: bool = True) -> Iterator[MetaDB]:
    """The data dir's meta.db, closed on leaving. With `existing=False` the data dir and its meta.db are created
    (private modes) when missing, as `init` and `run` need; otherwise a missing one is refused."""
    if existing:
        _require_meta(settings)
    else:
        fsutil.prepare_data_dir(settings.data_dir)
    db = MetaDB(settings.data_dir / "meta.db")
    try:
        yield db
    finally:
        db.close()


@contextlib.contextmanager
def refusing(*errors: type[Exception]) -> Iterator[None]:
    """These package errors end the command with their message (exit code 1) instead of a traceback."""
    try:
        yield
    except errors as exc:
        raise click.ClickException(str(exc)) from None


def emit_json(payload: Any, *, pretty: bool = False) -> None:
    """`payload` as one line of JSON, or indented for a person (`pretty`)."""
    click.echo(json.dumps(payload, indent=2 if pretty else None, default=str))


def emit(as_json: bool, payload: Any, text: str) -> None:
    """`payload` as one line of JSON with --json, else the sentence `text`."""
    click.echo(json.dumps(payload, default=str) if as_json else text)


def emit_table(as_json: bool, payload: Any, table: Table) -> None:
    """`payload` as one line of JSON with --json, else `table` drawn for the terminal."""
    if as_json:
        emit_json(payload)
    else:
        Console().print(table)


class Step(Protocol):
    def __call__(self, done: int, total: int, description: str | None = None) -> None: ...


@contextlib.contextmanager
def progress(label: str, description: str) -> Iterator[Step]:
    """A progress bar on standard error (label, bar, description, elapsed time); yields the function that
    advances it to `done` of `total`, optionally with a new description."""
    with Progress(
        TextColumn(f"[bold]{label}[/]"), BarColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=False,
    ) as bar:  # fmt: skip
        task = bar.add_task(description, total=None)

        def step(done: int, total: int, description: str | None = None) -> None:
            bar.update(task, completed=done, total=total, description=description)

        yield step


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


def server_url(settings: Settings) -> str:
    """Where the running server of this config answers (a wildcard listen address is reached on loopback)."""
    if settings.server.public_url:
        return settings.server.public_url.rstrip("/")
    host = settings.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://[{host}]:{settings.server.port}" if ":" in host else f"http://{host}:{settings.server.port}"

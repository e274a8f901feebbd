"""`lynex-box upgrade --check`: what this release will do with a data dir (and its bucket), without changing it.

The upgrade itself happens on start: `lynex-box run` migrates meta.db and replays the WAL, and refuses, before
anything changes, a file or object written by a newer release. So `upgrade` only checks; it is safe beside a
running server (read-only, no lock). Exit status 0: this release opens everything; 1: something is too new (the
message says what, and what to do). docs/operations/upgrades.md is the procedure around it.
"""

from __future__ import annotations

import sys

import click
from rich.markup import escape
from rich.table import Table

from lynex_box.cli.common import console, data_dir_options, emit_table, settings_for

ON_START = (
    "Upgrades happen on start: `lynex-box run` of this release applies meta.db's migrations and replays the WAL. "
    "Back up first (`lynex-box backup`); `lynex-box upgrade --check` says what will change."
)
SHOWN = {"ok": "[green]ok[/]", "migrate": "[cyan]migrate[/]", "too-new": "[red]TOO NEW[/]", "absent": "-",
         "unchecked": "[yellow]unchecked[/]"}  # fmt: skip


@click.command()
@click.option("--check", is_flag=True, help="inspect the data dir and the bucket; change nothing")
@click.option("--no-bucket", is_flag=True, help="leave the bucket's backups and cluster objects out")
@data_dir_options()
def upgrade(check: bool, no_bucket: bool, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Say what this release changes in a data dir on its next start, and whether it can open it at all."""
    from lynex_box.upgrade import inspect

    if not check:
        click.echo(ON_START)
        return
    settings = settings_for(config, data_dir, existing=True)
    report = inspect(settings, bucket=not no_bucket)
    table = Table("part", "versions found", "reads up to", "status", "on start")
    for part in report.parts:
        found = ", ".join(f"{v}: {n}" for v, n in part.found.items()) or "-"
        table.add_row(escape(part.name), escape(found), str(part.supported), SHOWN[part.status], escape(part.detail))
    emit_table(as_json, report.as_dict(), table)
    if not as_json:
        for step in report.migrations:
            click.echo(f"  migration {step['number']}: {step['name']}")
        for part in report.parts:
            if part.refusal:
                click.echo(f"{part.name}: {part.refusal}")
        verdict = "can open this data dir" if report.ok else "refuses this data dir: nothing was changed"
        console.print(f"Lynex Box {report.version} {verdict}")
    if not report.ok:
        sys.exit(1)

"""`lynex-box query`: a read-only query over one project's stored segments, beside a running server.

It reads the catalog and the published Parquet files only (not the server's in-memory head), so
it works while the server runs and never takes the data dir's writer lock. The SQL runs in a sandbox
(`query/sandbox.py`): one SELECT that may read that project's segment files and nothing else on the machine.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from lynex_box.cli.common import data_dir_options, emit_table, refusing, settings_for
from lynex_box.config import Settings


def run_query(settings: Settings, project_id: str, sql: str) -> list[dict[str, Any]]:
    """Rows of `sql` over the project's spans; raises `SandboxError` (a ValueError) for what the sandbox refuses."""
    from lynex_box.engine import Engine
    from lynex_box.query.engine import SpanScope

    with Engine.open_read_only(settings) as read:  # retention, deletions and bucket segments apply as in the server
        spill = read.work_dir / "spill"  # empty and private: the only place the sandbox's DuckDB may write
        spill.mkdir(mode=0o700)
        table = read.query.run_untrusted(SpanScope(project_id), sql, temp_dir=spill)
        rows: list[dict[str, Any]] = table.to_pylist()
        return rows


@click.command()
@click.option("--project", "project_id", required=True)
@click.option("--sql", default="SELECT name, model, count(*) AS spans, sum(total_cost) AS cost FROM spans GROUP BY ALL")
@data_dir_options()
def query(project_id: str, sql: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    """Run a read-only SQL query over one project's spans (a relation named `spans`)."""
    settings = settings_for(config, data_dir, existing=False)
    with refusing(Exception):
        rows = run_query(settings, project_id, sql)
    table = Table(*(rows[0].keys() if rows else ["(no rows)"]))
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    emit_table(as_json, rows, table)

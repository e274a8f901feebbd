"""`lynex-box reprice`: recompute the stored costs of a project's spans in a time range with the current prices.

Argument parsing and printing only; the work is `Lifecycle.reprice_recorded` (lifecycle/). Only the process that
holds the data dir's writer lock may change segments, so:

- no server running: the command opens the data dir's engine itself (recovery prices replayed spans with the
  current prices), publishes the head, rewrites the range's segments with a progress bar, and audits it as the
  command line;
- a server running: the command asks it through `POST /v1/projects/{pid}/reprice`, which needs an admin API key
  of the project (`--api-key` or `LYNEX_API_KEY`) and the server's address (`--url`, default `[server]
  public_url`, else `http://<host>:<port>` of the config). The server audits it with that key.
"""

from __future__ import annotations

from typing import Any

import click
import httpx

from lynex_box.cli.common import (
    console,
    data_dir_options,
    emit,
    parse_time,
    progress,
    refusing,
    server_url,
    settings_for,
)
from lynex_box.config import Settings
from lynex_box.schema.timefmt import format_time_us


def _local(settings: Settings, project_id: str, from_us: int, to_us: int) -> dict[str, Any] | None:
    """Reprice with this process's own engine (`Lifecycle.reprice_recorded`); None when a server holds the data
    dir."""
    from lynex_box.auth.admin import CLI_ACTOR, project_exists
    from lynex_box.engine import engine_or_none
    from lynex_box.lifecycle.reprice import RepriceError
    from lynex_box.meta.prices import read_prices_at
    from lynex_box.pipeline.enrich import CostEnricher
    from lynex_box.pricing import PriceBook

    # recovery prices the spans it replays with the current prices, as a server's start does
    with engine_or_none(settings, [CostEnricher(PriceBook(read_prices_at(settings.data_dir)))]) as engine:
        if engine is None:
            return None
        if not project_exists(engine.meta, project_id):
            raise click.ClickException(f"no project {project_id!r}; hint: `lynex-box projects list`")
        engine.catch_up()  # no pipeline task runs here: take every durable record into the head now
        with progress("reprice", "segments") as step, refusing(RepriceError):
            return engine.lifecycle.reprice_recorded(
                project_id, from_us, to_us, CLI_ACTOR, lambda done, total: step(done, total, f"{done}/{total} segments")
            )


def _through_server(url: str, api_key: str | None, project_id: str, from_us: int, to_us: int) -> dict[str, Any]:
    if not api_key:
        raise click.ClickException(
            "a server is running on this data dir and only it may rewrite segments; hint: pass --api-key (an admin "
            "API key of the project) or set LYNEX_API_KEY, and --url if it does not answer at " + url
        )
    body = {"from": format_time_us(from_us), "to": format_time_us(to_us)}
    with console.status(f"the server at {url} is repricing {body['from']} .. {body['to']}"):
        try:
            r = httpx.post(f"{url}/v1/projects/{project_id}/reprice", json=body,
                           headers={"Authorization": f"Bearer {api_key}"}, timeout=None)  # fmt: skip
        except httpx.HTTPError as exc:
            raise click.ClickException(f"the server at {url} did not answer ({exc}); hint: pass --url") from None
    if r.status_code != 200:
        try:
            message = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = r.text[:300]
        raise click.ClickException(f"the server refused the repricing ({r.status_code}): {message}")
    answer: dict[str, Any] = r.json()
    return answer


@click.command()
@click.option("--project", "project_id", required=True)
@click.option("--from", "from_", required=True, help="start: epoch ms, a date or an RFC 3339 time (UTC if no offset)")
@click.option("--to", "to", required=True, help="end, exclusive")
@click.option("--url", help="the running server (default: [server] public_url, else http://host:port of the config)")
@click.option("--api-key", envvar="LYNEX_API_KEY", help="an admin API key of the project; needed while a server runs")
@data_dir_options()
def reprice(
    project_id: str, from_: str, to: str, url: str | None, api_key: str | None, config: str | None,
    data_dir: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Recompute the cost of PROJECT's stored spans in [--from, --to) with the current prices (library + the
    project's custom prices). Reported costs are kept as reported."""
    settings = settings_for(config, data_dir, existing=True)
    lo, hi = parse_time(from_, "--from"), parse_time(to, "--to")
    assert lo is not None and hi is not None
    if hi <= lo:
        raise click.BadParameter("must be after --from (the range is [from, to))", param_hint="--to")
    result = _local(settings, project_id, lo, hi)
    via = "this command"
    if result is None:
        via = "the running server"
        result = _through_server(url or server_url(settings), api_key, project_id, lo, hi)
    emit(as_json, result,
         f"{result['spans_changed']} of {result['spans']} spans got a new cost; {result['rewritten']} of "
         f"{result['files']} segment files rewritten by {via} ({result['from']} .. {result['to']})")  # fmt: skip

"""`lynex-box prices list|set|delete`: a project's custom prices in meta.db.

Safe while the server runs: it reloads custom prices every few seconds, and prices apply to spans ingested
after that (stored spans keep their cost).
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from lynex_box.auth.admin import project_exists
from lynex_box.cli.common import data_dir_options, emit_json, emit_table, open_meta, refusing, settings_for
from lynex_box.meta.prices import delete_price, list_prices, price_as_dict, upsert_prices
from lynex_box.pricing import CustomPrice, InvalidCustomPrice

project_option = click.option("--project", "project_id", required=True, help="project id")
model_option = click.option("--model", required=True, help="model name as spans report it")
provider_option = click.option("--provider", default=None, help="only when called through this provider")


def _show(prices: list[dict[str, Any]], as_json: bool) -> None:
    table = Table("model", "provider", "input $/Mtok", "output $/Mtok", "cache read", "cache write")
    for p in prices:
        cells = [p["model"], p["provider"] or "", p["input_per_mtok"], p["output_per_mtok"],
                 p["cache_read_per_mtok"], p["cache_write_per_mtok"]]  # fmt: skip
        table.add_row(*("" if c is None else str(c) for c in cells))
    emit_table(as_json, prices, table)


@click.group()
def prices() -> None:
    """Per-project custom model prices (USD per million tokens)."""


@prices.command("list")
@project_option
@data_dir_options()
def prices_list(project_id: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    with open_meta(settings_for(config, data_dir, existing=True)) as db:
        found = list_prices(db, project_id).get(project_id, ())
    _show([price_as_dict(p) for p in found], as_json)


@prices.command("set")
@project_option
@model_option
@provider_option
@click.option("--input-per-mtok", type=float, required=True)
@click.option("--output-per-mtok", type=float, required=True)
@click.option("--cache-read-per-mtok", type=float, default=None, help="default: priced as input")
@click.option("--cache-write-per-mtok", type=float, default=None, help="default: priced as input")
@data_dir_options()
def prices_set(
    project_id: str, model: str, provider: str | None, input_per_mtok: float, output_per_mtok: float,
    cache_read_per_mtok: float | None, cache_write_per_mtok: float | None, config: str | None,
    data_dir: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Add or replace the price of one model; the running server uses it within seconds."""
    with refusing(InvalidCustomPrice):
        price = CustomPrice(
            model=model, provider=provider, input_per_mtok=input_per_mtok, output_per_mtok=output_per_mtok,
            cache_read_per_mtok=cache_read_per_mtok, cache_write_per_mtok=cache_write_per_mtok,
        )  # fmt: skip
    with open_meta(settings_for(config, data_dir, existing=True)) as db:
        if not project_exists(db, project_id):
            raise click.ClickException(f"no project {project_id!r}; hint: `lynex-box projects list` shows them")
        upsert_prices(db, project_id, [price])
    _show([price_as_dict(price)], as_json)


@prices.command("delete")
@project_option
@model_option
@provider_option
@data_dir_options()
def prices_delete(
    project_id: str, model: str, provider: str | None, config: str | None, data_dir: str | None, as_json: bool
) -> None:
    with open_meta(settings_for(config, data_dir, existing=True)) as db:
        done = delete_price(db, project_id, model, provider)
    if not done:
        raise click.ClickException(f"no custom price for model {model!r} in project {project_id!r}")
    emit_json({"deleted": {"project_id": project_id, "model": model, "provider": provider}})

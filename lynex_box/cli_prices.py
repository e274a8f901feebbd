"""`lynex-box prices list|set|delete`: a project's custom prices in meta.db.

Safe while the server runs: it reloads custom prices every few seconds, and prices apply to spans ingested
after that (stored spans keep their cost).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from lynex_box.config import ConfigError, load_settings
from lynex_box.meta.db import MetaDB
from lynex_box.meta.prices import delete_price, list_prices, price_as_dict, upsert_prices
from lynex_box.pricing import CustomPrice, InvalidCustomPrice


def _db(config: str | None, data_dir: str | None) -> MetaDB:
    try:
        settings = load_settings(Path(config) if config else None, overrides={"server": {"data_dir": data_dir}})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not (settings.data_dir / "meta.db").exists():
        raise click.ClickException(f"no meta.db in {settings.data_dir}; hint: run `lynex-box init` first")
    return MetaDB(settings.data_dir / "meta.db")


def _project_exists(db: MetaDB, project_id: str) -> None:
    if not db.read("SELECT 1 FROM projects WHERE id = ?", (project_id,)):
        raise click.ClickException(f"no project {project_id!r}; hint: `lynex-box projects list` shows them")


def _show(prices: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(prices))
        return
    table = Table("model", "provider", "input $/Mtok", "output $/Mtok", "cache read", "cache write")
    for p in prices:
        cells = [p["model"], p["provider"] or "", p["input_per_mtok"], p["output_per_mtok"],
                 p["cache_read_per_mtok"], p["cache_write_per_mtok"]]  # fmt: skip
        table.add_row(*("" if c is None else str(c) for c in cells))
    Console().print(table)


config_option = click.option("--config", type=click.Path(dir_okay=False), help="lynex.toml to load")
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (./lynex-data)")
json_option = click.option("--json", "as_json", is_flag=True, help="print JSON")
project_option = click.option("--project", "project_id", required=True, help="project id")
model_option = click.option("--model", required=True, help="model name as spans report it")
provider_option = click.option("--provider", default=None, help="only when called through this provider")


@click.group()
def prices() -> None:
    """Per-project custom model prices (USD per million tokens)."""


@prices.command("list")
@project_option
@config_option
@data_dir_option
@json_option
def prices_list(project_id: str, config: str | None, data_dir: str | None, as_json: bool) -> None:
    db = _db(config, data_dir)
    try:
        found = list_prices(db, project_id).get(project_id, ())
    finally:
        db.close()
    _show([price_as_dict(p) for p in found], as_json)


@prices.command("set")
@project_option
@model_option
@provider_option
@click.option("--input-per-mtok", type=float, required=True)
@click.option("--output-per-mtok", type=float, required=True)
@click.option("--cache-read-per-mtok", type=float, default=None, help="default: priced as input")
@click.option("--cache-write-per-mtok", type=float, default=None, help="default: priced as input")
@config_option
@data_dir_option
@json_option
def prices_set(
    project_id: str, model: str, provider: str | None, input_per_mtok: float, output_per_mtok: float,
    cache_read_per_mtok: float | None, cache_write_per_mtok: float | None, config: str | None,
    data_dir: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Add or replace the price of one model; the running server uses it within seconds."""
    try:
        price = CustomPrice(
            model=model, provider=provider, input_per_mtok=input_per_mtok, output_per_mtok=output_per_mtok,
            cache_read_per_mtok=cache_read_per_mtok, cache_write_per_mtok=cache_write_per_mtok,
        )  # fmt: skip
    except InvalidCustomPrice as exc:
        raise click.ClickException(str(exc)) from None
    db = _db(config, data_dir)
    try:
        _project_exists(db, project_id)
        upsert_prices(db, project_id, [price])
    finally:
        db.close()
    _show([price_as_dict(price)], as_json)


@prices.command("delete")
@project_option
@model_option
@provider_option
@config_option
@data_dir_option
@json_option
def prices_delete(
    project_id: str, model: str, provider: str | None, config: str | None, data_dir: str | None, as_json: bool
) -> None:
    db = _db(config, data_dir)
    try:
        done = delete_price(db, project_id, model, provider)
    finally:
        db.close()
    if not done:
        raise click.ClickException(f"no custom price for model {model!r} in project {project_id!r}")
    click.echo(json.dumps({"deleted": {"project_id": project_id, "model": model, "provider": provider}}))

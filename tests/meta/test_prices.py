"""Custom prices in meta.db: keyed like `CustomPrice` matches, and reloaded into the pipeline only on change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from lynex_box.auth.admin import create_org, create_project
from lynex_box.meta.db import MetaDB
from lynex_box.meta.prices import PriceReloader, delete_price, list_prices, read_prices_at, upsert_prices
from lynex_box.pricing import CustomPrice, PriceBook


def test_two_spellings_of_one_model_are_one_price_and_the_reloader_applies_changes_once(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.db")
    project = create_project(db, "p", create_org(db, "o"))
    applied: list[Mapping[str, Sequence[CustomPrice]]] = []
    reloader = PriceReloader(db, applied.append)
    assert reloader.reload() and applied[-1] == {}
    upsert_prices(db, project, [CustomPrice(model="openai/GPT-4o", input_per_mtok=1, output_per_mtok=2)])
    upsert_prices(db, project, [CustomPrice(model="gpt-4o", input_per_mtok=3, output_per_mtok=4)])
    upsert_prices(db, project, [CustomPrice(model="gpt-4o", provider="azure", input_per_mtok=5, output_per_mtok=6)])
    prices = list_prices(db, project)[project]
    assert [(p.model, p.provider, p.input_per_mtok) for p in prices] == [("gpt-4o", None, 3), ("gpt-4o", "azure", 5)]
    assert reloader.reload() and not reloader.reload()  # applied once per change
    book = PriceBook(applied[-1])
    cost = book.cost(project, None, "gpt-4o", 1_000_000, 0)
    assert cost is not None and cost.total == 3.0
    assert delete_price(db, project, "GPT-4o") and not delete_price(db, project, "gpt-4o")
    assert reloader.reload() and [p.provider for p in applied[-1][project]] == ["azure"]
    db.close()
    assert read_prices_at(tmp_path)[project][0].input_per_mtok == 5

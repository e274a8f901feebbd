"""Per-project custom prices in meta.db (`custom_prices`), and the reloader that hands them to the pipeline.

A row is keyed by (project, provider as compared, normalised model), the key `CustomPrice` matches spans by,
so two spellings of one model can never make two contradicting prices. Writers are the API (through the
server's MetaDB) and the CLI (another process, while the server runs): the server therefore polls
(`PriceReloader.reload`, every few seconds as its job, and right after an API write) instead of
trusting an in-process notification. It must never hand the pipeline a price that failed validation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import apsw

from lynex_box.jobs import Job
from lynex_box.meta.db import MetaDB
from lynex_box.pricing import CustomPrice
from lynex_box.pricing.names import normalize_model, provider_key

log = logging.getLogger("lynex.prices")
RELOAD_S: Final = 2.0  # how often the reloader's job reads the prices again: prices the CLI writes apply within this

CustomPrices = dict[str, tuple[CustomPrice, ...]]
_COLUMNS = "project_id, provider, model, input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok"


def price_as_dict(price: CustomPrice) -> dict[str, Any]:
    return {
        "model": price.model,
        "provider": price.provider,
        "input_per_mtok": price.input_per_mtok,
        "output_per_mtok": price.output_per_mtok,
        "cache_read_per_mtok": price.cache_read_per_mtok,
        "cache_write_per_mtok": price.cache_write_per_mtok,
    }


def _price(row: tuple[Any, ...]) -> CustomPrice:
    _, provider, model, inp, out, read, write = row
    return CustomPrice(
        model=model,
        provider=provider,
        input_per_mtok=inp,
        output_per_mtok=out,
        cache_read_per_mtok=read,
        cache_write_per_mtok=write,
    )


def _keys(provider: str | None, model: str) -> tuple[str, str]:
    return provider_key(provider) or "", normalize_model(model)


def list_prices(db: MetaDB, project_id: str | None = None) -> CustomPrices:
    """Custom prices by project (all projects when `project_id` is None), ordered by model."""
    where, params = ("WHERE project_id = ?", (project_id,)) if project_id is not None else ("", ())
    rows = db.read(f"SELECT {_COLUMNS} FROM custom_prices {where} ORDER BY project_id, model_key, provider_key", params)
    out: dict[str, list[CustomPrice]] = {}
    for row in rows:
        try:
            out.setdefault(row[0], []).append(_price(row))
        except ValueError:  # written by a newer or broken writer: skip it rather than price with it
            log.warning("custom price skipped project=%s model=%s", row[0], row[2])
    return {project: tuple(prices) for project, prices in out.items()}


def upsert_prices(db: MetaDB, project_id: str, prices: Sequence[CustomPrice]) -> None:
    """Insert or replace each price (already validated by `CustomPrice`), all in one transaction."""
    now = time.time_ns() // 1000

    def write(conn: apsw.Connection) -> None:
        for p in prices:
            provider, model = _keys(p.provider, p.model)
            conn.execute(
                "INSERT INTO custom_prices (project_id, provider_key, model_key, provider, model, input_per_mtok, "
                "output_per_mtok, cache_read_per_mtok, cache_write_per_mtok, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, provider_key, model_key) DO UPDATE SET "
                "provider = excluded.provider, model = excluded.model, input_per_mtok = excluded.input_per_mtok, "
                "output_per_mtok = excluded.output_per_mtok, cache_read_per_mtok = excluded.cache_read_per_mtok, "
                "cache_write_per_mtok = excluded.cache_write_per_mtok, updated_at = excluded.updated_at",
                (project_id, provider, model, p.provider, p.model, float(p.input_per_mtok), float(p.output_per_mtok),
                 p.cache_read_per_mtok, p.cache_write_per_mtok, now),
            )  # fmt: skip

    db.write(write)


def delete_price(db: MetaDB, project_id: str, model: str, provider: str | None = None) -> bool:
    """Remove the price of `model` (for `provider`, or the provider-less one); False if there was none."""
    provider_k, model_k = _keys(provider, model)

    def write(conn: apsw.Connection) -> bool:
        conn.execute(
            "DELETE FROM custom_prices WHERE project_id = ? AND provider_key = ? AND model_key = ?",
            (project_id, provider_k, model_k),
        )
        return bool(conn.changes())

    return db.write(write)


def read_prices_at(data_dir: Path) -> CustomPrices:
    """Every project's prices, read before the engine opens the data dir (so WAL replay is priced with them)."""
    db = MetaDB(data_dir / "meta.db")
    try:
        return list_prices(db)
    finally:
        db.close()


class PriceReloader:
    """Reads every project's custom prices and calls `apply` when they differ from the last ones applied.

    `apply` gets the full mapping (project → prices), e.g. to build a new `PriceBook` for the cost enricher.
    Safe to call from several threads (the scheduler and an API write may race): one reload at a time.
    """

    def __init__(self, db: MetaDB, apply: Callable[[Mapping[str, Sequence[CustomPrice]]], None]) -> None:
        self.db = db
        self.apply = apply
        self._current: CustomPrices | None = None
        self._lock = threading.Lock()

    def reload(self) -> bool:
        """Apply the stored prices if they changed; True when they did."""
        with self._lock:
            prices = list_prices(self.db)
            if prices == self._current:
                return False
            try:
                self.apply(prices)
            except ValueError as exc:  # InvalidCustomPrice: keep pricing with the last good set
                log.error("custom prices not applied error=%s", exc)
                return False
            self._current = prices
            log.info("custom prices loaded projects=%d prices=%d", len(prices), sum(map(len, prices.values())))
            return True

    def jobs(self) -> list[Job]:
        return [Job.blocking("reload_prices", self.reload, RELOAD_S)]

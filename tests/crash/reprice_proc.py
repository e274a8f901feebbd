"""A real process that reprices a range of a data dir, for crash tests (SIGKILLed at a crash point).

Usage: `python reprice_proc.py DATA_DIR PROJECT FROM_US TO_US`. Prints `DONE` if no crash point fired.
"""

from __future__ import annotations

import sys

from lynex_box.config import load_settings
from lynex_box.engine import Engine
from lynex_box.meta.prices import list_prices
from lynex_box.pricing import PriceBook


def main() -> None:
    data_dir, project, from_us, to_us = sys.argv[1:5]
    settings = load_settings(env={}, overrides={"server": {"data_dir": data_dir}, "lifecycle": {"grace_period_s": 0.0}})
    engine = Engine.open(settings)
    engine.lifecycle.reprice(project, int(from_us), int(to_us), PriceBook(list_prices(engine.meta, project)))
    engine.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()

"""The `lynex-box` command: one click group, one module per command group, nothing but argument parsing.

`run.py` (run, init, doctor), `defaults.py` (default-config), `projects.py`, `keys.py`, `users.py`, `prices.py`,
`reprice.py`, `query.py`, `lifecycle.py` (delete, rehydrate, backup, restore, export), `encryption.py` and
`cluster.py` (status) each parse
their arguments and call into the package; what they share (the --config/--data-dir/--json options, opening
meta.db, JSON or table output, progress bars) is in `common.py`. A command module never imports another one.
"""

from __future__ import annotations

import click

from lynex_box import __version__
from lynex_box.cli import cluster, defaults, encryption, keys, lifecycle, prices, projects, query, reprice, run, users


@click.group()
@click.version_option(__version__)
def main() -> None:
    """Lynex Box: observability for LLM applications in one process."""


for _command in (
    run.run, run.init, run.doctor, defaults.default_config, projects.projects, keys.keys, query.query,
    *lifecycle.COMMANDS, prices.prices, reprice.reprice, users.users_group, encryption.encryption_group,
    cluster.cluster_group,
):  # fmt: skip
    main.add_command(_command)

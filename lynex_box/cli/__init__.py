"""The `lynex-box` command: one click group, one module per command group, nothing but argument parsing.

`run.py` (run, init, doctor), `defaults.py` (default-config), `projects.py`, `keys.py`, `users.py`, `prices.py`,
`reprice.py`, `query.py`, `lifecycle.py` (delete, rehydrate, backup, restore, export), `encryption.py`,
`cluster.py` (status), `plugins.py` (per-project plugins), `upgrade.py` (upgrade --check) and `monitors.py`
(synthetic monitors, through the running server's API) each parse their arguments and call into the package; what
they share (the --config/--data-dir/--json options, opening meta.db, JSON or table output, progress bars) is in
`common.py`. A command module never imports another one. Any command refuses a file or object written by a newer
release with its message (`FormatTooNew`), not a traceback.
"""

from __future__ import annotations

from typing import Any

import click

from lynex_box import __version__
from lynex_box.cli import (
    archive,
    cluster,
    defaults,
    encryption,
    keys,
    lifecycle,
    monitors,
    plugins,
    prices,
    projects,
    query,
    reprice,
    run,
    upgrade,
    users,
)
from lynex_box.versions import FormatTooNew


class _Main(click.Group):
    """The `lynex-box` group: a newer release's data ends any command with its message, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FormatTooNew as exc:  # a newer release's data: its message and hint, exit status 1
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Main)
@click.version_option(__version__)
def main() -> None:
    """Lynex Box: observability for LLM applications in one process."""


for _command in (
    run.run, run.init, run.doctor, defaults.default_config, projects.projects, keys.keys, query.query,
    *lifecycle.COMMANDS, prices.prices, reprice.reprice, users.users_group, encryption.encryption_group,
    cluster.cluster_group, archive.archive, upgrade.upgrade, plugins.plugins_group, monitors.monitors,
):  # fmt: skip
    main.add_command(_command)

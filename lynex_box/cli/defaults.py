"""`lynex-box default-config`: print the default lynex.toml, every setting documented with its default.

A wheel carries the repository's lynex.toml as `lynex_box/lynex.toml`, so an installed appliance can write out its
own documented configuration (`lynex-box default-config > /etc/lynex-box/lynex.toml`) without a clone. From a clone
(an editable install) the file is read from the repository's root.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click


def default_config_text() -> str:
    """The text of the default lynex.toml: the copy inside the installed package, else the clone's."""
    packaged = resources.files("lynex_box") / "lynex.toml"
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    clone = Path(__file__).resolve().parents[2] / "lynex.toml"
    if clone.is_file():
        return clone.read_text(encoding="utf-8")
    raise click.ClickException(
        f"no lynex.toml inside the package nor at {clone}; hint: reinstall Lynex Box from its wheel or a clone"
    )


@click.command("default-config")
def default_config() -> None:
    """Print the default lynex.toml (every setting with its default and what it does)."""
    click.echo(default_config_text(), nl=False)

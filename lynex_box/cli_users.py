"""`lynex-box users list|reset-password`: accounts in meta.db, for the operator of the machine.

`reset-password` is the way back in when the only owner lost their password: it prints a one-time reset
link (or, with `--password-stdin`, sets the password read from standard input). Both are audited as the
command line. Safe while the server runs. Passwords and tokens are printed once and never logged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lynex_box.auth import resets, users
from lynex_box.auth.admin import CLI_ACTOR, AdminError, hash_password
from lynex_box.config import ConfigError, Settings, load_settings
from lynex_box.meta.db import MetaDB


def _open(config: str | None, data_dir: str | None) -> tuple[Settings, MetaDB]:
    try:
        settings = load_settings(Path(config) if config else None, overrides={"server": {"data_dir": data_dir}})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not (settings.data_dir / "meta.db").exists():
        raise click.ClickException(f"no meta.db in {settings.data_dir}; hint: run `lynex-box init` first")
    return settings, MetaDB(settings.data_dir / "meta.db")


@click.group("users")
def users_group() -> None:
    """List accounts and recover access."""


@users_group.command("list")
@click.option("--config", type=click.Path(dir_okay=False), help="lynex.toml to load")
@click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (./lynex-data)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def users_list(config: str | None, data_dir: str | None, as_json: bool) -> None:
    _, db = _open(config, data_dir)
    try:
        rows = db.read(
            "SELECT u.id, u.email, u.name, u.disabled, group_concat(m.org_id || ':' || m.role) FROM users u "
            "LEFT JOIN org_members m ON m.user_id = u.id GROUP BY u.id ORDER BY u.created_at"
        )
    finally:
        db.close()
    items = [
        {
            "user_id": r[0],
            "email": r[1],
            "name": r[2],
            "disabled": bool(r[3]),
            "orgs": dict(x.split(":", 1) for x in (r[4] or "").split(",") if x),
        }
        for r in rows
    ]
    click.echo(json.dumps(items, indent=None if as_json else 2))


@users_group.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="set the password read from standard input instead")
@click.option("--config", type=click.Path(dir_okay=False), help="lynex.toml to load")
@click.option("--data-dir", type=click.Path(file_okay=False), help="data directory (./lynex-data)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def users_reset_password(
    email: str, password_stdin: bool, config: str | None, data_dir: str | None, as_json: bool
) -> None:
    """Print a one-time reset link for EMAIL (or set a password from stdin)."""
    settings, db = _open(config, data_dir)
    try:
        user = users.find_by_email(db, email)
        if user is None:
            raise click.ClickException(f"no user with email {email!r}; hint: `lynex-box users list`")
        if password_stdin:
            try:
                password = users.check_password_policy(
                    sys.stdin.readline().rstrip("\n"), settings.auth.password_min_length, user.email
                )
            except AdminError as exc:
                raise click.ClickException(str(exc)) from None
            new_hash = hash_password(password)
            db.write(lambda c: resets.operator_set(c, CLI_ACTOR, user.id, new_hash))
            click.echo(json.dumps({"user_id": user.id, "password_set": True}))
            return
        ttl = settings.auth.password_reset_ttl_s
        token, expires = db.write(lambda c: resets.operator_issue(c, CLI_ACTOR, user.id, ttl))
    finally:
        db.close()
    base = settings.server.public_url.rstrip("/") or f"http://{settings.server.host}:{settings.server.port}"
    click.echo(
        json.dumps(
            {"user_id": user.id, "reset_token": token, "url": f"{base}/reset-password#{token}", "expires_at": expires}
        )
    )

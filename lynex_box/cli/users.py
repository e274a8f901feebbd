"""`lynex-box users list|reset-password`: accounts in meta.db, for the operator of the machine.

`reset-password` is the way back in when the only owner lost their password: it prints a one-time reset
link (or, with `--password-stdin`, sets the password read from standard input). Both are audited as the
command line. Safe while the server runs. Passwords and tokens are printed once and never logged.
"""

from __future__ import annotations

import sys

import click

from lynex_box.auth import resets, users
from lynex_box.auth.admin import CLI_ACTOR, AdminError, hash_password
from lynex_box.cli.common import data_dir_options, emit_json, open_meta, refusing, settings_for


@click.group("users")
def users_group() -> None:
    """List accounts and recover access."""


@users_group.command("list")
@data_dir_options()
def users_list(config: str | None, data_dir: str | None, as_json: bool) -> None:
    with open_meta(settings_for(config, data_dir, existing=True)) as db:
        items = users.list_with_orgs(db)
    emit_json(items, pretty=not as_json)


@users_group.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="set the password read from standard input instead")
@data_dir_options()
def users_reset_password(
    email: str, password_stdin: bool, config: str | None, data_dir: str | None, as_json: bool
) -> None:
    """Print a one-time reset link for EMAIL (or set a password from stdin)."""
    settings = settings_for(config, data_dir, existing=True)
    with open_meta(settings) as db:
        user = users.find_by_email(db, email)
        if user is None:
            raise click.ClickException(f"no user with email {email!r}; hint: `lynex-box users list`")
        if password_stdin:
            with refusing(AdminError):
                password = users.check_password_policy(
                    sys.stdin.readline().rstrip("\n"), settings.auth.password_min_length, user.email
                )
            new_hash = hash_password(password)
            db.write(lambda c: resets.operator_set(c, CLI_ACTOR, user.id, new_hash))
            emit_json({"user_id": user.id, "password_set": True})
            return
        ttl = settings.auth.password_reset_ttl_s
        token, expires = db.write(lambda c: resets.operator_issue(c, CLI_ACTOR, user.id, ttl))
    base = settings.server.public_url.rstrip("/") or f"http://{settings.server.host}:{settings.server.port}"
    url = f"{base}/reset-password#{token}"
    emit_json({"user_id": user.id, "reset_token": token, "url": url, "expires_at": expires})

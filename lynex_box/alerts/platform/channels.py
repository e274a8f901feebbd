"""The admin channels of `[platform_alerts]`: the webhook shorthand and the tables `[platform_alerts.channels.<name>]`,
each checked by its channel type (`validate`) like a rule's channel, with any setting `<name>_file` read from a file.

Blocking (it reads the files): called once at start, in a thread. A channel that cannot be used stops the start with
a `ConfigError` naming the table and the setting, never its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lynex_box.alerts.rules import Channel, RuleError, check_url
from lynex_box.alerts.targets import TargetPolicy
from lynex_box.config import ConfigError, PlatformAlertsSettings
from lynex_box.plugins.channels import ChannelType

WEBHOOK: str = "webhook"  # the shorthand's channel name


def tables(s: PlatformAlertsSettings) -> dict[str, dict[str, Any]]:
    """Every channel table, the webhook shorthand (`webhook_url`, `webhook_url_file`, `webhook_secret_file`) as one
    named `webhook`."""
    out = {name: dict(table) for name, table in s.channels.items()}
    if s.webhook_url or s.webhook_url_file:
        if WEBHOOK in out:
            raise ConfigError("platform_alerts.webhook_url(_file) and [platform_alerts.channels.webhook] are both "
                              "set; hint: keep one")  # fmt: skip
        shorthand = {"type": "webhook", "url": s.webhook_url, "url_file": s.webhook_url_file,
                     "secret_file": s.webhook_secret_file}  # fmt: skip
        out[WEBHOOK] = {k: v for k, v in shorthand.items() if v} | {"_shorthand": True}
    return out


def _read(path: object, where: str) -> str:
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where} must be the path of a readable file")
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where} = {path!r} cannot be read: {exc.strerror}; hint: a readable file") from None


def open_channel(
    name: str, table: Mapping[str, Any], types: Mapping[str, ChannelType], email: bool, policy: TargetPolicy
) -> Channel:
    shorthand = table.get("_shorthand", False)  # the webhook_* keys: errors name them as the operator wrote them
    where = "[platform_alerts]" if shorthand else f"[platform_alerts.channels.{name}]"
    spell = (lambda key: f"webhook_{key}") if shorthand else (lambda key: key)
    table = {k: v for k, v in table.items() if k != "_shorthand"}
    kind_name = table.get("type")
    kind = types.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        raise ConfigError(f"{where} type = {kind_name!r} is not a loaded channel type; loaded: {sorted(types)}")
    config: dict[str, Any] = {}
    for key, value in table.items():
        if key == "type":
            continue
        base = key.removesuffix("_file")
        if key.endswith("_file") and base in kind.fields:
            if base in table:
                raise ConfigError(f"{where} sets both {spell(base)} and {spell(key)}; hint: keep one")
            config[base] = _read(value, f"{where} {spell(key)}")
        else:
            config[key] = value
    problems = kind.validate(config)
    if problems:
        raise ConfigError(f"{where}: {'; '.join(problems)}")
    if getattr(kind, "needs_mailer", False) and not email:
        raise ConfigError(f"{where}: the {kind.name} channel needs [smtp]; hint: configure [smtp] or another type")
    for key in kind.url_fields:
        if config.get(key):
            try:
                check_url(config[key], where, policy, key)
            except RuleError as exc:
                raise ConfigError(f"{exc}; hint: [alerts] allowed_target_networks opens more addresses") from None
    return Channel(name, kind.name, config, kind.public(config), tuple(kind.secret_fields))


def admin_channels(
    s: PlatformAlertsSettings, types: Mapping[str, ChannelType], email: bool, policy: TargetPolicy
) -> tuple[Channel, ...]:
    """The channels platform alerts notify (blocking: reads the `_file` settings)."""
    return tuple(open_channel(name, table, types, email, policy) for name, table in sorted(tables(s).items()))

"""How the plugin host finds channel types: the built-in channel plugins load without `[plugins] enabled`, the
operator can trim them through `[plugins] builtin_channels`, and a channel plugin can be enabled like any other."""

from __future__ import annotations

from lynex_box.config import BUILTIN_CHANNELS, PluginsSettings
from lynex_box.plugins.host import PluginHost


def _types(settings: PluginsSettings) -> list[str]:
    host = PluginHost.start(settings)
    try:
        return sorted(host.channel_types())
    finally:
        host.close()


def test_the_built_in_channels_load_by_default() -> None:
    assert _types(PluginsSettings()) == ["email", "opsgenie", "pagerduty", "slack", "teams", "webhook"]
    assert len(BUILTIN_CHANNELS) == 6


def test_builtin_channels_can_be_trimmed_and_a_channel_plugin_enabled_by_name() -> None:
    assert _types(PluginsSettings(builtin_channels=("channel-webhook",))) == ["webhook"]
    assert _types(PluginsSettings(builtin_channels=(), enabled=("channel-teams",))) == ["teams"]
    assert _types(PluginsSettings(builtin_channels=())) == []

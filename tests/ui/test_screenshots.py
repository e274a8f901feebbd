"""Every view of the seeded server, signed in as the first admin, shot in light and dark mode at 1440x900 for a
reviewer (tests/ui/screenshots/), with no console error on any of them. The views named here are the ones the
navigation offers plus the detail pages a list leads to; a view added to the UI belongs in VIEWS."""

from __future__ import annotations

from typing import Any

from tests.ui.conftest import UI
from tests.ui.shots import SCREENSHOTS, shoot

# (screenshot name, path under /ui, a test id or text the view shows once its data is loaded)
VIEWS = [
    ("overview", "/", "Overview"),
    ("traces", "/traces", "Traces"),
    ("traces-sorted-by-cost", "/traces?sort=cost&order=desc", "Traces"),
    ("trace", "/traces/chat-005", "support-agent"),
    ("trace-agent-graph", "/traces/chat-005?view=graph", "support-agent"),
    ("big-trace", "/traces/big-trace-30k", "bulk-pipeline"),
    ("spans", "/spans", "Spans"),
    ("sessions", "/sessions", "Sessions"),
    ("session", "/sessions/sess-3", "sess-3"),
    ("users", "/users", "Users"),
    ("user", "/users/user-1", "user-1"),
    ("dashboard", "/dashboards", "Dashboard"),
    ("prompts", "/prompts", "Prompts"),
    ("alerts", "/alerts", "Alerts"),
    ("monitors", "/monitors", "Monitors"),
    ("settings-keys", "/settings/keys", "Settings"),
    ("settings-members", "/settings/members", "Settings"),
    ("settings-project", "/settings/project", "Settings"),
    ("settings-plugins", "/settings/plugins", "Settings"),
    ("settings-audit", "/settings/audit", "Settings"),
    ("settings-account", "/settings/account", "Settings"),
    ("get-started", "/start", "Get started"),
]


def test_every_view_in_light_and_dark_without_console_errors(ui: UI, page: Any) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
    page.goto(f"{ui.url}/ui/")
    page.get_by_label("Email").wait_for()
    shoot(page, "sign-in")
    ui.login(page)
    for name, path, shown in VIEWS:
        page.goto(f"{ui.url}/ui{path}")
        page.get_by_test_id("whoami").wait_for()
        page.get_by_text(shown).first.wait_for()
        page.wait_for_load_state("networkidle")
        shoot(page, name)
    assert errors == [], errors
    shots = {p.name for p in SCREENSHOTS.glob("*.png")}
    for name in ["sign-in"] + [v[0] for v in VIEWS]:
        assert {f"{name}-light.png", f"{name}-dark.png"} <= shots, name

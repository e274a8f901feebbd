"""Signing in, the overview dashboard with the seeded totals, the first-run screen and the themes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.ui.conftest import UI


def _int(n: float) -> str:
    return f"{round(n):,}"


def test_login_shows_dashboard_with_seeded_totals(ui: UI, page: Any, tmp_path: Path) -> None:
    ui.login(page)
    totals = ui.seed.totals
    requests = page.get_by_test_id("stat-spans")
    requests.get_by_text(_int(totals["count"])).wait_for()
    assert _int(totals["errors"]) in page.get_by_test_id("stat-errors").inner_text()
    assert f"${totals['cost']:.3f}".rstrip("0") in page.get_by_test_id("stat-cost").inner_text()
    tokens = page.get_by_test_id("stat-tokens").inner_text()
    assert f"{totals['input_tokens'] / 1000:.1f}k in" in tokens.replace(".0k", "k") or "k in" in tokens
    # every chart drew a canvas, and the breakdown lists the seeded models
    for chart in ("chart-traces", "chart-llm-calls", "chart-tokens", "chart-cost", "chart-latency"):
        page.get_by_test_id(chart).locator("canvas").wait_for()
    breakdown = page.get_by_test_id("breakdown")
    breakdown.get_by_role("link", name="gpt-4o").wait_for()
    assert "claude-3-5-sonnet" in breakdown.inner_text()
    page.get_by_test_id("top-users").get_by_role("link", name="user-2").wait_for()
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)


def test_dark_theme_and_time_range_persist(ui: UI, page: Any, tmp_path: Path) -> None:
    ui.login(page)
    page.get_by_role("button", name="Toggle dark theme").click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.get_by_test_id("range").select_option("7d")
    page.wait_for_url("**range=7d**")
    page.reload()
    page.get_by_test_id("stat-spans").get_by_text(_int(ui.seed.totals["count"])).wait_for()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.screenshot(path=str(tmp_path / "overview-dark.png"))


def test_first_run_screen_shows_this_projects_endpoint(ui: UI, page: Any) -> None:
    ui.login(page)
    page.get_by_role("link", name="Get started").click()
    code = page.locator("pre code").first
    code.wait_for()
    assert f"/v1/projects/{ui.server.project}/events" in code.inner_text()
    page.get_by_role("tab", name="OpenTelemetry").click()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in page.locator("pre code").first.inner_text()
    page.get_by_test_id("first-trace-status").get_by_text("Data is arriving").wait_for()


def test_api_key_login_fallback(ui: UI, page: Any) -> None:
    page.goto(f"{ui.url}/ui/")
    page.get_by_role("tab", name="API key").click()
    page.get_by_label("API key", exact=True).fill(ui.creds["api_key"])
    page.get_by_label("Project id").fill(ui.server.project)
    page.get_by_role("button", name="Open project").click()
    page.get_by_test_id("whoami").get_by_text("API key").wait_for()
    page.get_by_test_id("stat-spans").get_by_text(_int(ui.seed.totals["count"])).wait_for()

"""Layout defects of the lists and the waterfall, on the seeded server: new filters scroll the traces table back to
the newest match, extra columns scroll sideways with their header, duration labels never sit on their bars,
truncated cells carry their full text as a tooltip, and no page logs a console error (signed out or in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.ui.conftest import UI


def _box(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None
    return dict(box)


def test_new_filters_scroll_the_traces_table_back_to_the_top(ui: UI, page: Any) -> None:
    page.set_viewport_size({"width": 1440, "height": 560})  # a short table: the seeded traces scroll
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces")
    table = page.get_by_test_id("traces-table")
    page.get_by_test_id("traces-count").get_by_text(f"{len(ui.seed.chat_traces) + 1} traces").wait_for()
    table.evaluate("el => { el.scrollTop = el.scrollHeight }")
    page.wait_for_function("el => el.scrollTop > 0", arg=table.element_handle())
    page.get_by_label("Model", exact=True).fill("gpt-4o")
    page.get_by_label("Model", exact=True).press("Enter")
    n = len(ui.seed.model_traces["gpt-4o"])
    page.get_by_test_id("traces-count").get_by_text(f"{n} traces").wait_for()
    assert table.evaluate("el => el.scrollHeight - el.clientHeight") > 0  # the matches still scroll
    assert table.evaluate("el => el.scrollTop") == 0
    newest = max(ui.seed.model_traces["gpt-4o"])
    first = page.get_by_test_id("trace-row").first
    assert first.get_attribute("data-trace-id") == newest and first.is_visible()


def test_extra_columns_scroll_sideways_with_their_header(ui: UI, page: Any) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces")
    page.get_by_test_id("trace-row").first.wait_for()
    page.get_by_text("Columns", exact=True).click()
    menu = page.get_by_role("group", name="Columns")
    menu.get_by_label("Env").check()
    menu.get_by_label("Trace id").check()
    page.keyboard.press("Escape")
    table = page.get_by_test_id("traces-table")
    assert table.evaluate("el => el.scrollWidth > el.clientWidth")  # a horizontal scrollbar
    head, row = page.locator(".table-wrap .grid-head"), page.get_by_test_id("trace-row").first
    assert _box(head)["x"] == _box(row)["x"]
    table.evaluate("el => { el.scrollLeft = 150 }")
    page.wait_for_function("el => el.scrollLeft === 150", arg=table.element_handle())
    assert _box(head)["x"] == _box(row)["x"]  # the header moved with the rows
    header_text = head.inner_text()
    assert "Env" in header_text and "Trace id" in header_text
    page.evaluate("localStorage.removeItem('lynex.traceColumns')")


def test_waterfall_duration_labels_never_overlap_their_bars(ui: UI, page: Any) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces/chat-005")
    rows = page.get_by_test_id("span-row")
    rows.first.wait_for()
    assert rows.count() == 4
    for row in rows.all():
        bar, label, track = _box(row.locator(".span-bar")), _box(row.locator(".span-dur")), _box(row)
        assert label["x"] >= bar["x"] + bar["width"] - 0.5, (row.inner_text(), bar, label)
        assert label["x"] + label["width"] <= track["x"] + track["width"], (row.inner_text(), label, track)


def test_truncated_names_have_their_full_text_as_a_tooltip(ui: UI, page: Any) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces")
    row = page.locator('[data-trace-id="chat-005"]')
    assert row.get_by_text("support-agent").get_attribute("title") == "support-agent"
    assert row.get_by_text("sess-6").get_attribute("title") == "sess-6"
    page.goto(f"{ui.url}/ui/sessions")
    session = page.get_by_test_id("sessions-row").filter(has_text="sess-3")
    assert session.get_by_text("sess-3", exact=True).get_attribute("title") == "sess-3"
    page.goto(f"{ui.url}/ui/traces/chat-005")
    names = page.locator(".span-label .ellipsis")
    names.first.wait_for()
    assert names.first.get_attribute("title") == "support-agent"


PAGES = ["/ui/", "/ui/traces", "/ui/traces/chat-005", "/ui/sessions", "/ui/sessions/sess-3", "/ui/users",
         "/ui/prompts", "/ui/alerts", "/ui/settings", "/ui/start"]  # fmt: skip


def test_no_console_errors_signed_out_or_signed_in(ui: UI, page: Any) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
    for path in ("/ui/", "/ui/traces", "/ui/forgot-password"):
        page.goto(f"{ui.url}{path}")
        page.get_by_label("Password").or_(page.get_by_label("Email")).first.wait_for()
        page.wait_for_load_state("networkidle")
    assert errors == [], errors  # signed out: no 401 on /api/auth/me logged
    ui.login(page)
    for path in PAGES:
        page.goto(f"{ui.url}{path}")
        page.get_by_test_id("whoami").wait_for()
        page.wait_for_load_state("networkidle")
    assert errors == [], errors


def test_columns_menu_closes_on_escape_and_outside_clicks(ui: UI, page: Any) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces")
    page.get_by_test_id("trace-row").first.wait_for()
    menu = page.get_by_role("group", name="Columns")
    page.get_by_text("Columns", exact=True).click()
    menu.wait_for()
    page.keyboard.press("Escape")
    menu.wait_for(state="hidden")
    page.get_by_text("Columns", exact=True).click()
    menu.wait_for()
    page.get_by_role("heading", name="Traces").click()
    menu.wait_for(state="hidden")


def test_filter_pairs_stay_on_one_line_at_1440_px(ui: UI, page: Any) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces")
    page.get_by_test_id("trace-row").first.wait_for()
    names = ("Full-text search", "Minimum latency (ms)", "Maximum latency (ms)")
    boxes = [_box(page.get_by_label(name)) for name in names]
    assert {round(b["y"]) for b in boxes} == {round(boxes[0]["y"])}, boxes  # one row: nothing wrapped
    assert _box(page.get_by_label("Minimum cost"))["y"] == boxes[1]["y"]


def test_alert_form_fields_are_aligned(ui: UI, page: Any, tmp_path: Path) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/alerts")
    page.get_by_role("button", name="New alert rule").click()
    form = page.get_by_test_id("alert-form")
    form.get_by_role("button", name="Add channel").click()
    form.get_by_label("Channel type").select_option("webhook")
    page.screenshot(path=str(tmp_path / "alert-form.png"))
    name, enabled = _box(form.get_by_label("Rule name")), _box(form.get_by_label("Enabled"))
    assert abs(name["y"] + name["height"] / 2 - enabled["y"] - enabled["height"] / 2) <= 2  # centred on the input
    rows = [("Metric", "Comparison", "Threshold (%)"),
            ("Window", "Check every", "Re-notify while firing"), ("Only model", "Only span name", "Only environment"),
            ("Channel type", "Channel URL", "Signing secret")]  # fmt: skip
    for labels in rows:
        bottoms = {
            round(_box(form.get_by_label(name))["y"] + _box(form.get_by_label(name))["height"]) for name in labels
        }
        assert max(bottoms) - min(bottoms) <= 4, (labels, bottoms)  # the controls of a row end on one line
    remove, url = form.get_by_role("button", name="Remove channel"), form.get_by_label("Channel URL")
    assert abs(_box(remove)["y"] + _box(remove)["height"] - _box(url)["y"] - _box(url)["height"]) <= 4

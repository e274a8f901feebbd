"""Screenshots of the views for a reviewer: each call saves the page as it is, at its viewport (1440x900 in the
browser tests), once in the light and once in the dark theme, under tests/ui/screenshots/ (not committed).

The theme is switched with the app's own toggle where the page has one (so the charts, which pick their colours
when they render, follow it), else on the document element (the sign-in page); the page is not reloaded, so what
the test set up (a selected span, an open menu) stays on screen in both pictures.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SCREENSHOTS = Path(__file__).parent / "screenshots"
THEMES = ("light", "dark")


def shoot(page: Any, name: str) -> list[Path]:
    """Save `<name>-light.png` and `<name>-dark.png` of the page; the page keeps the theme it had."""
    SCREENSHOTS.mkdir(exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    before = _theme(page)
    paths = []
    try:
        for theme in THEMES:
            _set_theme(page, theme)
            path = SCREENSHOTS / f"{slug}-{theme}.png"
            page.screenshot(path=str(path))
            paths.append(path)
    finally:
        _set_theme(page, before or "light")
    return paths


def _theme(page: Any) -> str:
    return str(page.evaluate("() => document.documentElement.dataset.theme || ''"))


def _set_theme(page: Any, theme: str) -> None:
    if _theme(page) == theme:
        return
    toggle = page.get_by_role("button", name="Toggle dark theme")
    if toggle.count():
        toggle.click()
        page.wait_for_function("(t) => document.documentElement.dataset.theme === t", arg=theme)
        page.wait_for_timeout(100)  # the charts redraw on the next frame
    else:
        page.evaluate("(t) => { document.documentElement.dataset.theme = t }", theme)

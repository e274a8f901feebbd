"""Every hook in lynex_box/plugins/hookspecs.py has its own section in docs/plugins.md, and every topic has a hook."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from lynex_box.plugins import hookspecs
from lynex_box.plugins.events import TOPICS

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _hooks() -> list[str]:
    return sorted(
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if getattr(fn, f"{hookspecs.PROJECT}_spec", None) is not None
    )


def test_every_hook_is_documented_in_docs_plugins_md() -> None:
    sections = set(re.findall(r"^### (\w+)\s*$", DOC.read_text(), flags=re.MULTILINE))
    hooks = _hooks()
    assert len(hooks) >= 13
    missing = [h for h in hooks if h not in sections]
    assert not missing, f"hooks without a '### <name>' section in docs/plugins.md: {missing}"
    stale = sorted(s for s in sections if s.startswith("lynex_") and s not in hooks)
    assert not stale, f"docs/plugins.md documents hooks hookspecs.py does not declare: {stale}"


def test_every_topic_has_its_hook() -> None:
    assert set(TOPICS.values()) <= set(_hooks())

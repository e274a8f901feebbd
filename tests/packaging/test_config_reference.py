"""docs/operations/configuration.md is lynex.toml laid out for reading: regenerated here, it must equal the committed
page, and it lists exactly the settings the loader knows (a key undocumented, or documented but gone, fails)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lynex_box.config import settings_as_toml_keys

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "operations" / "configuration.md"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("config_reference", ROOT / "scripts" / "config_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("config_reference", module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_committed_page_is_what_lynex_toml_generates() -> None:
    fresh = generator().render((ROOT / "lynex.toml").read_text(encoding="utf-8"))
    assert PAGE.read_text(encoding="utf-8") == fresh, (
        "docs/operations/configuration.md is out of date; hint: python scripts/config_reference.py"
    )


def test_the_page_documents_every_setting_the_loader_knows_and_no_other() -> None:
    documented: dict[str, list[str]] = {}
    section = ""
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if found := re.fullmatch(r"## \[([a-z0-9_]+)\]", line):
            section = found[1]
            documented[section] = []
        elif found := re.match(r"- `([a-z0-9_]+) = [^`]*`(?: \([^)]*\))? · `(LYNEX_[A-Z0-9_]+)`$", line):
            assert found[2] == f"LYNEX_{section}_{found[1]}".upper()
            documented[section].append(found[1])
    assert {s: sorted(k) for s, k in documented.items()} == {s: sorted(k) for s, k in settings_as_toml_keys().items()}


def test_a_line_the_generator_does_not_understand_stops_it() -> None:
    with pytest.raises(ValueError, match="line 4"):
        generator().render("[wal]\n# ok\nlevels = [\n  1,\n]\n")


def test_comments_become_paragraphs_under_their_keys_with_sizes_and_variables() -> None:
    page = generator().render(
        "# lynex.toml: intro\n#\n# Read <this>.\n\n[wal]\n# Size of\n# a file.\nsegment_bytes = 1048576\nother = 1\n"
    )
    assert "Read \\<this>." in page
    assert (
        "- `segment_bytes = 1048576` (1 MiB) · `LYNEX_WAL_SEGMENT_BYTES`\n- `other = 1` · `LYNEX_WAL_OTHER`\n" in page
    )
    assert "\n\nSize of a file.\n" in page

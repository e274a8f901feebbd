"""The operator guide (docs/operations/) names only things that exist: files it links or mentions, `lynex-box`
commands, settings (`[section] key`) and LYNEX_* variables. A renamed setting or command fails here instead of
leaving the guide wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lynex_box.cli import main
from lynex_box.config import settings_as_toml_keys

ROOT = Path(__file__).resolve().parents[2]
GUIDE = sorted((ROOT / "docs" / "operations").glob("*.md"))
OTHER_VARIABLES = {"LYNEX_CONFIG"}  # read by the command line, not a setting


def settings() -> dict[str, list[str]]:
    return settings_as_toml_keys()


@pytest.mark.parametrize("page", GUIDE, ids=lambda p: p.name)
def test_links_and_repository_paths_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (page.parent / target).exists(), f"{page.name} links to {target}"
    for path in re.findall(r"`((?:packaging|docs|bench|scripts|tests)/[\w./-]+)`", text):
        assert (ROOT / path.rstrip("/")).exists(), f"{page.name} names {path}"


@pytest.mark.parametrize("page", GUIDE, ids=lambda p: p.name)
def test_settings_variables_and_commands_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    known = settings()
    for section, key in re.findall(r"\[([a-z_]+)\] ([a-z][a-z0-9_]*)\b", text):
        if section in known and page.name != "configuration.md":
            assert key in known[section], f"{page.name} names [{section}] {key}, which is no setting"
    for section in re.findall(r"`\[([a-z_]+)\]`", text):
        assert section in known, f"{page.name} names the section [{section}]"
    variables = {f"LYNEX_{s}_{k}".upper() for s, keys in known.items() for k in keys} | OTHER_VARIABLES
    for variable in re.findall(r"\bLYNEX_[A-Z0-9_]*[A-Z0-9]\b", text):
        assert variable in variables, f"{page.name} names {variable}"
    # `lynex-box X` as a command, not a container or service of that name (`docker exec lynex-box cat ...`)
    for command in re.findall(r"(?<!exec )(?<!logs )\blynex-box ([a-z][a-z-]+)", text):
        if command not in ("service", "user"):  # prose: "the lynex-box user"
            assert command in main.commands, f"{page.name} names `lynex-box {command}`"

"""Write docs/operations/configuration.md, the configuration reference, from the repository's lynex.toml.

lynex.toml is the one place every setting is documented (tests/test_config.py keeps it equal to lynex_box/config.py):
this script only lays it out for reading. It reads the file generically, so a new section or key needs no change
here: the comment lines above a key (or above a run of keys) describe them, a section's keys are listed in file
order, each with its default as written in the file and its environment variable. tests/packaging/
test_config_reference.py regenerates the page and fails when the committed one differs.

    python scripts/config_reference.py           # rewrite docs/operations/configuration.md
    python scripts/config_reference.py --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "lynex.toml"
TARGET = ROOT / "docs" / "operations" / "configuration.md"

_SECTION = re.compile(r"^\[([a-z][a-z0-9_]*)\]\s*$")
_KEY = re.compile(r"^([a-z][a-z0-9_]*)\s*=\s*(.+?)\s*$")


@dataclass
class Block:
    """A run of keys and the comment lines written above it."""

    comment: list[str] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)  # (key, default as written)


@dataclass
class Section:
    name: str
    blocks: list[Block] = field(default_factory=list)


def parse(text: str) -> tuple[list[str], list[Section]]:
    """The file's opening comment and its sections; raises ValueError on a line it does not understand."""
    preamble: list[str] = []
    sections: list[Section] = []
    pending: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            if not sections:
                preamble, pending = [*preamble, *pending, ""], []
            continue
        if line.startswith("#"):
            pending.append(line[1:].removeprefix(" "))
        elif found := _SECTION.match(line):
            if not sections:
                preamble, pending = preamble + pending, []
            sections.append(Section(found[1]))
        elif (found := _KEY.match(line)) and sections:
            blocks = sections[-1].blocks
            if pending or not blocks:
                blocks.append(Block(comment=pending))
                pending = []
            blocks[-1].keys.append((found[1], found[2]))
        else:
            raise ValueError(f"lynex.toml line {number} is neither a section, a key nor a comment: {raw!r}")
    return preamble, sections


def _size_hint(key: str, literal: str) -> str:
    """ " (64 MiB)" for a byte count that is a whole number of KiB, MiB or GiB."""
    if "bytes" not in key or not literal.isdigit():
        return ""
    value = int(literal)
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size and value % size == 0:
            return f" ({value // size} {unit})"
    return ""


def _escape(text: str) -> str:
    """`<` outside code spans escaped, so that `<SECTION>` or `<public_url>` is read as text, not as an HTML tag."""
    parts = text.split("`")
    return "`".join(part if i % 2 else part.replace("<", "\\<") for i, part in enumerate(parts))


def _paragraphs(lines: list[str]) -> str:
    """Comment lines joined into paragraphs (an empty comment line separates them)."""
    out, current = [], []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            out.append(_escape(" ".join(current)))
            current = []
    return "\n\n".join(out)


def render(text: str) -> str:
    """The Markdown reference of a lynex.toml's text."""
    preamble, sections = parse(text)
    parsed = tomllib.loads(text)
    listed = {s.name: [k for b in s.blocks for k, _ in b.keys] for s in sections}
    if listed != {name: list(keys) for name, keys in parsed.items()}:
        raise ValueError("lynex.toml has keys this script did not read line by line (a multi-line value?)")
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated from lynex.toml by `python scripts/config_reference.py`; edit lynex.toml, not this page. -->",
        "",
        "Every setting of Lynex Box, section by section, with its default and the environment variable that",
        "overrides it. Settings come from the defaults, then the file given with `--config` (or named by",
        "`LYNEX_CONFIG`), then `LYNEX_<SECTION>_<KEY>` variables, then the command line's `--data-dir`, `--host`,",
        "`--port` and `--dev`. `lynex-box default-config` prints the whole file, every setting with its default.",
        "",
        _paragraphs([line for line in preamble if not line.startswith("lynex.toml:")]),
        "",
        "Sections: " + ", ".join(f"[`[{s.name}]`](#{s.name})" for s in sections) + ".",
    ]
    for section in sections:
        out += ["", f"## [{section.name}]", ""]
        for block in section.blocks:
            for key, literal in block.keys:
                variable = f"LYNEX_{section.name}_{key}".upper()
                out.append(f"- `{key} = {literal}`{_size_hint(key, literal)} · `{variable}`")
            if block.comment:
                out += ["", _paragraphs(block.comment)]
            out.append("")
        out.pop()
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed page is out of date")
    args = parser.parse_args(argv)
    page = render(SOURCE.read_text(encoding="utf-8"))
    if args.check:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != page:
            print(
                f"{TARGET.relative_to(ROOT)} is out of date; hint: python scripts/config_reference.py", file=sys.stderr
            )
            return 1
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

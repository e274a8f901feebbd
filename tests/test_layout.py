"""The tests mirror the package: every folder under tests/ is a package of lynex_box/ (tests/sources/otlp/ holds
the tests of lynex_box/sources/otlp/), apart from the few suites listed here that test the whole server.

So a test of a module is found where the module is, and a folder that no longer matches (its package moved or
was renamed) fails here instead of drifting. docs/testing.md describes the layout.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).parent
PACKAGE = TESTS.parent / "lynex_box"

# Suites that test the whole server, not one package; each is described in docs/testing.md.
SUITES = {
    "e2e": "the real server (granian on 127.0.0.1) through its HTTP API: the contract clients rely on",
    "crash": "real processes SIGKILLed at named crash points, then their data dir reopened",
    "ui": "the web UI (lynex_box/web/) in Chromium against a real, seeded server",
    "bench": "the bounded versions of bench/ scripts",
    "packaging": "the top-level packaging/ folder and the wheel: image, chart, unit file, operator docs",
    "sdks": "the TypeScript SDK of sdks/js/ against the real server (the Python SDK tests itself: sdks/python/tests)",
}
# Folders of data files that tests read (no Python in them, so no package to mirror); docs/testing.md lists them.
DATA = {
    "fixtures": "committed data the tests open, such as data dirs written by earlier releases (tests/fixtures/upgrade)",
}


def folders() -> list[Path]:
    found = [p for p in TESTS.rglob("*") if p.is_dir() and p.name != "__pycache__"]
    return sorted(rel for rel in (p.relative_to(TESTS) for p in found) if rel.parts[0] not in DATA)


def test_every_test_folder_mirrors_a_package_or_is_a_listed_suite() -> None:
    strays = [
        str(rel) for rel in folders() if rel.parts[0] not in SUITES and not (PACKAGE / rel / "__init__.py").is_file()
    ]
    assert strays == [], (
        f"tests/{strays[0] if strays else ''} matches no package of lynex_box/: move its tests to the folder of "
        f"the package they test (tests/<package path>/), or, for a suite of the whole server, list it in SUITES "
        f"and describe it in docs/testing.md; all strays: {strays}"
    )


def test_every_test_folder_is_a_package_and_every_suite_exists() -> None:
    # without __init__.py two test files of one name in two folders would collide when pytest imports them
    assert [str(rel) for rel in folders() if not (TESTS / rel / "__init__.py").is_file()] == []
    assert [name for name in SUITES if not (TESTS / name).is_dir()] == []
    docs = (TESTS.parent / "docs" / "testing.md").read_text()
    assert [name for name in SUITES if f"tests/{name}/" not in docs] == []


def test_data_folders_hold_no_tests_and_are_documented() -> None:
    docs = (TESTS.parent / "docs" / "testing.md").read_text()
    assert [name for name in DATA if f"tests/{name}/" not in docs] == []
    assert [str(p.relative_to(TESTS)) for name in DATA for p in (TESTS / name).rglob("*.py")] == []

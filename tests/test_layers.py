"""The package's layers point one way: `lint-imports` checks pyproject.toml's import-linter contracts.

A lower layer that imports a higher one (storage importing accounts, the lifecycle importing the engine that
builds it, config importing the WAL), a new top-level package without a place in the layers, or Starlette or
click imported below the HTTP and command-line layers fails this test, with import-linter's report of the chain.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# lint-imports puts its working directory first on sys.path, so it reads the package of the tree it runs in
LINT = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()", "--no-cache"]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # the report's lines unwrapped
    return subprocess.run(LINT, cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_import_contracts_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def copy_package(target: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    for source in (ROOT / "lynex_box").rglob("*.py"):
        if "node_modules" in source.parts:
            continue
        dest = target / source.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, dest)
    return target / "lynex_box"


def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    package = copy_package(tmp_path)
    with open(package / "segments" / "datakeys.py", "a") as fh:
        fh.write("\nfrom lynex_box.auth import users  # noqa: E402 - storage importing the accounts domain\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "lynex_box.segments is not allowed to import lynex_box.auth" in result.stdout, result.stdout


def test_a_framework_import_below_the_http_layers_breaks_its_contract(tmp_path: Path) -> None:
    package = copy_package(tmp_path)
    with open(package / "engine.py", "a") as fh:
        fh.write("\nimport starlette  # noqa: E402\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "lynex_box.engine -> starlette" in result.stdout, result.stdout

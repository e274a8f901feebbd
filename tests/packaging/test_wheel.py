"""The wheel and sdist as a user gets them: `python -m build` makes both, they carry the built UI and the default
lynex.toml, and the wheel installed into a fresh virtual environment outside the source tree starts, takes a
trace and answers it back.

The venv is isolated (no `--system-site-packages`): pip resolves the wheel's own declared dependencies, wheels only
(`--only-binary=:all:`, so nothing needs a compiler), from the package index through pip's cache (about 20 s when
the cache is warm). A venv that saw the test environment's packages would hide a dependency missing from
pyproject.toml. The installed size and the count of dependencies are checked against budgets and printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import free_port
from tests.packaging.appliance import read_trace, send_trace, wait_ready

ROOT = Path(__file__).resolve().parents[2]
# Budgets, about 15% above what was measured (2026-12: 488 MB and 44 dependencies on Python 3.11, pip and
# setuptools included in the size): a new heavy dependency must be a decision, not an accident.
MAX_INSTALLED_MB = 560
MAX_DEPENDENCIES = 50


def clean_env() -> dict[str, str]:
    """The caller's environment without what would make the venv run the source tree or change its settings."""
    return {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("LYNEX_")
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        env=clean_env(),
        timeout=300,
    )
    return out


def only(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def test_the_sdist_carries_what_building_the_wheel_needs_and_no_tests(dist: Path) -> None:
    with tarfile.open(only(dist, "lynex_box-*.tar.gz")) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "lynex.toml", "README.md", "lynex_box/web/static/index.html"} <= names
    assert "plugins/lynex-channels/src/lynex_channels/pagerduty.py" in names  # the wheel's built-in channels
    assert not any(n.startswith(("tests/", "bench/", "packaging/")) or "node_modules" in n for n in names)


def test_the_wheel_carries_the_built_ui_and_the_default_config_but_not_the_ui_source(dist: Path) -> None:
    with zipfile.ZipFile(only(dist, "lynex_box-*.whl")) as wheel:
        names = set(wheel.namelist())
        packaged_toml = wheel.read("lynex_box/lynex.toml").decode()
        entry_points = wheel.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert packaged_toml == (ROOT / "lynex.toml").read_text()
    assert "lynex_box/web/static/index.html" in names
    assert any(n.startswith("lynex_box/web/static/assets/") for n in names)
    assert not any(n.startswith("lynex_box/web/ui/") for n in names)
    assert "lynex-box = lynex_box.cli:main" in entry_points
    # the built-in notification channel plugins ride in the wheel, declared as lynex-box's own entry points
    assert {f"lynex_channels/{m}.py" for m in ("webhook", "slack", "mail", "teams", "pagerduty", "opsgenie")} <= names
    assert "channel-pagerduty = lynex_channels.pagerduty" in entry_points


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("venv")
    assert not home.resolve().is_relative_to(ROOT)
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=120)
    pip = [str(home / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    installed = subprocess.run(
        [*pip, "install", "--only-binary=:all:", str(only(dist, "lynex_box-*.whl"))],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=480,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    yield home


def installed_figures(home: Path) -> dict[str, int]:
    (site,) = home.glob("lib/python3.*/site-packages")
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())
    listed = subprocess.run(
        [str(home / "bin" / "python"), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    names = {p["name"].lower() for p in json.loads(listed.stdout)} - {"pip", "setuptools", "lynex-box"}
    return {"installed_mb": size // 2**20, "dependencies": len(names)}


@pytest.mark.timeout(600)
def test_the_installed_wheel_starts_takes_a_trace_and_answers_it_back(venv: Path, tmp_path: Path) -> None:
    env = clean_env()
    figures = installed_figures(venv)
    print(f"\nwheel install: {json.dumps(figures)}")
    assert figures["installed_mb"] <= MAX_INSTALLED_MB and figures["dependencies"] <= MAX_DEPENDENCIES, figures
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import lynex_box; print(lynex_box.__file__)"],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(venv), "the venv ran the source tree, not the installed wheel"
    # the built-in channel types load with the default settings: no extra package, no [plugins] enabled
    channels = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "from lynex_box.config import PluginsSettings as S; "
         "from lynex_box.plugins.host import PluginHost; h = PluginHost.start(S()); print(sorted(h.channel_types()))"],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert channels.stdout.strip() == str(["email", "opsgenie", "pagerduty", "slack", "teams", "webhook"])

    # the documented defaults come from inside the installed package; run with them as the config file
    config = subprocess.run(
        [str(venv / "bin" / "lynex-box"), "default-config"], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    assert config.stdout.decode() == (ROOT / "lynex.toml").read_text()
    (tmp_path / "lynex.toml").write_bytes(config.stdout)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(venv / "bin" / "lynex-box"),
        "run",
        "--config",
        "lynex.toml",
        "--data-dir",
        "data",
        "--port",
        str(port),
    ]
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        creds = json.loads(proc.stdout.readline())

        def alive() -> None:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]

        wait_ready(url, alive=alive)
        trace_id = send_trace(url, creds)
        assert read_trace(url, creds, trace_id) == ["chat", "packaged"]
        assert json.loads((tmp_path / "data" / "first-start-credentials.json").read_text()) == creds
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()

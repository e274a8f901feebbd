"""Private modes whatever the umask (`lynex_box/fsutil.py`), and `lynex-box doctor`'s check of them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lynex_box import fsutil
from lynex_box.cli import main


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(params=[0o022, 0o000, 0o002], ids=["umask022", "umask000", "umask002"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_directories_and_files_are_created_private(umask: int, tmp_path: Path) -> None:
    deep = fsutil.make_dir(tmp_path / "a" / "b" / "c")
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", deep)] == [0o700] * 3
    fd = fsutil.open_file(deep / "wal", os.O_WRONLY)
    os.close(fd)
    assert mode(fsutil.create_empty(deep / "segment.tmp")) == 0o600 and mode(deep / "wal") == 0o600


def test_an_existing_file_opened_again_loses_group_and_other_bits(tmp_path: Path) -> None:
    loose = tmp_path / "LOCK"
    loose.write_text("")
    os.chmod(loose, 0o644)
    os.close(fsutil.open_file(loose, os.O_RDWR))
    assert mode(loose) == 0o600


def test_a_data_dir_open_to_others_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o755)
    fsutil.prepare_data_dir(data)
    assert mode(data) == 0o700
    assert "data dir was open to other users" in caplog.text
    caplog.clear()
    fsutil.prepare_data_dir(data)
    assert caplog.text == ""


def doctor(data: Path, config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["doctor", "--data-dir", str(data), "--config", str(config)])
    return result.exit_code, result.output


def test_doctor_lists_paths_open_to_other_users(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "lynex.toml"
    config.write_text("[server]\nport = 0\n[ingest]\nmin_free_disk_bytes = 0\n")  # port 0: always free
    assert CliRunner().invoke(main, ["init", "--data-dir", str(data), "--json"]).exit_code == 0
    code, out = doctor(data, config)
    assert code == 0 and "private (directories" in out and "open to other users" not in out, out

    os.chmod(data, 0o755)
    os.chmod(data / "meta.db", 0o644)
    extra = fsutil.make_dir(data / "segments" / "old")
    for i in range(25):
        (extra / f"{i:02d}.parquet").write_bytes(b"")
        os.chmod(extra / f"{i:02d}.parquet", 0o640)
    code, out = doctor(data, config)
    assert code == 0, out  # a warning, not a failure
    lines = [line.strip() for line in out.splitlines()]
    assert "warn" in out and "27 path(s) open to other users:" in lines
    listed = lines[lines.index("27 path(s) open to other users:") + 1 :]
    assert f"755 {data}" in listed and f"644 {data / 'meta.db'}" in listed
    assert len(listed) == 21 and listed[-1] == "… and 7 more"

    os.system(f"chmod -R go-rwx {data}")  # what the hint says
    code, out = doctor(data, config)
    assert code == 0 and "open to other users" not in out, out

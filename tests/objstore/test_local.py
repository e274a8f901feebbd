"""LocalStore specifics: on-disk layout, crash leftovers, file/directory conflicts, and safety across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lynex_box.objstore import KeyConflict, LocalStore, ObjectNotFound, PreconditionFailed

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_objects_are_plain_files_under_objects(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)

    store.put("segments/n1/a.parquet", b"data")

    assert (tmp_path / "objects" / "segments" / "n1" / "a.parquet").read_bytes() == b"data"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_failed_conditional_writes_leave_no_temporary_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("k", b"1")

    with pytest.raises(PreconditionFailed):
        store.put_if_absent("k", b"2")
    with pytest.raises(PreconditionFailed):
        store.put_if_match("k", b"2", "not-the-etag")

    assert list((tmp_path / "tmp").iterdir()) == []


def test_old_temporary_files_are_swept_on_open_and_young_ones_kept(tmp_path: Path) -> None:
    LocalStore(tmp_path)
    old = tmp_path / "tmp" / "put-crashed"
    young = tmp_path / "tmp" / "put-in-progress"
    old.write_bytes(b"partial")
    young.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))

    LocalStore(tmp_path, temp_max_age_s=3600)

    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == ["put-in-progress"]


def test_delete_removes_directories_it_leaves_empty(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("x/y/z", b"1")
    store.put("x/keep", b"2")

    store.delete("x/y/z")

    assert sorted(p.name for p in (tmp_path / "objects" / "x").iterdir()) == ["keep"]


def test_a_key_cannot_also_be_a_prefix_of_another_key(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("a/b", b"file")
    store.put("c/d/e", b"file")

    with pytest.raises(KeyConflict, match="a/b/c"):
        store.put("a/b/c", b"x")
    with pytest.raises(KeyConflict):
        store.put_if_absent("c/d", b"x")

    with pytest.raises(ObjectNotFound):
        store.get("c/d")
    with pytest.raises(ObjectNotFound):
        store.head("a/b/c")
    store.delete("c/d")
    assert [meta.key for meta in store.list()] == ["a/b", "c/d/e"]
    assert store.list("a/b") == []


def test_recreating_identical_content_gets_a_new_etag(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first = store.put_if_absent("lease", b"same")
    store.delete("lease")

    second = store.put_if_absent("lease", b"same")

    assert second.etag != first.etag
    with pytest.raises(PreconditionFailed):
        store.put_if_match("lease", b"other", first.etag)


WORKER = """
import json, sys
from pathlib import Path
from lynex_box.objstore import LocalStore, PreconditionFailed

root, worker, keys, increments = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
store = LocalStore(root)
print("ready", flush=True)
sys.stdin.readline()  # the parent releases every worker at once
won = []
for i in range(keys):
    try:
        store.put_if_absent(f"race/{i}", str(worker).encode())
        won.append(i)
    except PreconditionFailed:
        pass
for _ in range(increments):
    while True:
        current = store.get("counter")
        try:
            store.put_if_match("counter", str(int(current.data) + 1).encode(), current.etag)
            break
        except PreconditionFailed:
            continue
print(json.dumps(won), flush=True)
"""


def _release_and_collect(processes: list[subprocess.Popen[str]]) -> list[str]:
    """Wait until every worker is ready, release them all at once, and return what each one printed."""
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = []
    for process in processes:
        assert process.stdout is not None
        outputs.append(process.stdout.read())
        process.wait(timeout=60)
    return outputs


def test_conditional_writes_are_safe_across_processes(tmp_path: Path) -> None:
    workers, keys, increments = 4, 40, 15
    LocalStore(tmp_path).put("counter", b"0")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), str(worker), str(keys), str(increments)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for worker in range(workers)
    ]
    try:
        outputs = _release_and_collect(processes)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
    assert [process.returncode for process in processes] == [0] * workers

    store = LocalStore(tmp_path)
    winners: dict[int, list[int]] = {}
    for worker, output in enumerate(outputs):
        for key in json.loads(output):
            winners.setdefault(key, []).append(worker)
    assert sorted(winners) == list(range(keys))
    for key, won_by in winners.items():
        assert len(won_by) == 1, (key, won_by)
        assert store.get(f"race/{key}").data == str(won_by[0]).encode()
    assert store.get("counter").data == str(workers * increments).encode()

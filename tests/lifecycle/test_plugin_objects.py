"""`PluginContext.put_object` as app.py builds it: into the bucket under its prefix, or into the data dir without
one; a plugin's key stays in its own `plugins/<name>/` namespace and cannot climb out of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lynex_box.lifecycle.plugin_objects import object_writer
from lynex_box.objstore import InvalidKey, LocalStore
from lynex_box.plugins.context import PluginContext


def test_objects_go_to_the_bucket_or_the_data_dir_under_the_plugins_namespace(tmp_path: Path) -> None:
    bucket = LocalStore(tmp_path / "bucket")
    context = PluginContext(node_id="", data_dir=tmp_path / "data", put_object=object_writer(bucket, tmp_path))
    put = context.for_plugin("usage-export").put_object
    assert put is not None
    assert put("usage/2026/12/06.csv", b"a,b\n") == "bucket:plugins/usage-export/usage/2026/12/06.csv"
    assert bucket.get("plugins/usage-export/usage/2026/12/06.csv").data == b"a,b\n"
    local = PluginContext(node_id="", data_dir=tmp_path, put_object=object_writer(None, tmp_path)).for_plugin("x")
    assert local.put_object is not None
    where = local.put_object("day/1.csv", b"1")
    assert Path(where) == tmp_path / "plugins" / "x" / "day" / "1.csv" and Path(where).read_bytes() == b"1"
    local.put_object("day/1.csv", b"2")  # replaced
    assert Path(where).read_bytes() == b"2"


@pytest.mark.parametrize("key", ["../../meta.db", "a//b", "/etc/passwd", "a/./b"])
def test_a_key_that_would_leave_the_namespace_is_refused(tmp_path: Path, key: str) -> None:
    put = PluginContext(node_id="", data_dir=tmp_path, put_object=object_writer(None, tmp_path)).for_plugin("x")
    assert put.put_object is not None
    with pytest.raises(InvalidKey):
        put.put_object(key, b"x")
    assert not (tmp_path / "meta.db").exists()

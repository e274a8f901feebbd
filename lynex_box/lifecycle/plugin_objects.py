"""`PluginContext.put_object`'s writer: a plugin's object goes to the bucket under `[bucket] prefix` (so a CSV a
plugin exports sits next to the segments and backups, where the operator's tools already look), or into the data
dir when the node has no bucket. The key arrives already namespaced (`plugins/<name>/...`, context.py) and is
checked with the object store's rules, so a plugin can neither escape its namespace (`..`) nor write outside the
data dir. Blocking: plugins call it from their delivery threads.
"""

from __future__ import annotations

from pathlib import Path

from lynex_box import fsutil
from lynex_box.objstore import ObjectStore, validate_key
from lynex_box.plugins.context import PutObject


def object_writer(bucket: ObjectStore | None, data_dir: Path) -> PutObject:
    """`put_object(key, data) -> where`: `bucket:<key>` after a put to the bucket, else the file written."""

    def put_object(key: str, data: bytes) -> str:
        validate_key(key)  # InvalidKey names the key and the rule it breaks
        if bucket is not None:
            bucket.put(key, data)
            return f"bucket:{key}"
        path = data_dir.joinpath(*key.split("/"))
        fsutil.make_dir(path.parent)
        with fsutil.atomic_write(path) as handle:
            handle.write(data)
        return str(path)

    return put_object

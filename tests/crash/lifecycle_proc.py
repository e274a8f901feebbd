"""A real process that runs one lifecycle pass on a data dir, for crash tests (SIGKILLed at a crash point).

Usage: `python lifecycle_proc.py DATA_DIR BUCKET_DIR compact|offload|backup` (backup: to the bucket, keeping one).
Prints `DONE` if no crash point fired.
"""

from __future__ import annotations

import sys

from lynex_box.config import load_settings
from lynex_box.engine import Engine


def main() -> None:
    data_dir, bucket_dir, action = sys.argv[1:4]
    settings = load_settings(
        env={},
        overrides={
            "server": {"data_dir": data_dir},
            "lifecycle": {"grace_period_s": 0.0},
            "compaction": {"min_segments": 2},
            "offload": {"hot_window_s": 0},
            "bucket": {"type": "directory", "directory": bucket_dir},
        },
    )
    engine = Engine.open(settings)
    if action == "compact":
        engine.lifecycle.compact()
    elif action == "backup":
        engine.lifecycle.backup(keep=1)
    else:
        engine.lifecycle.offload()
    engine.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()

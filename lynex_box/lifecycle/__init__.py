"""The data lifecycle: compaction, retention, deletion, offload to the bucket and rehydration, the bucket cache,
backup and restore, export, and the disk guard (issue 7; docs/format/bucket.md).

Every change to stored data is a new file plus one catalog transaction (`Catalog.replace`); replaced files are
kept for a grace period so running queries never lose a file. `Lifecycle` (service.py) wires the pieces and is
what the engine, the scheduler, the API and the CLI use. Nothing here may run on the event loop.
"""

from lynex_box.lifecycle.service import Lifecycle

__all__ = ["Lifecycle"]

"""The write-ahead log: durable, group-committed, segmented; see docs/format/wal.md."""

from lynex_box.wal.format import RecordType, WalRecord
from lynex_box.wal.log import WalLog

__all__ = ["RecordType", "WalLog", "WalRecord"]

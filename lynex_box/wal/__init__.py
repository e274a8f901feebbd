"""The write-ahead log: durable, group-committed, segmented; see docs/format/wal.md."""

from lynex_box.wal.format import WalRecord
from lynex_box.wal.log import WalLog
from lynex_box.wal.records import RecordType

__all__ = ["RecordType", "WalLog", "WalRecord"]

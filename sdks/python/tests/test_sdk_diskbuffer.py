"""The disk buffer's file format and ownership, without a server: frames read back in order and by kind, the
acknowledged offset survives, a torn tail is cut, a locked file is never adopted, delivered files are deleted."""

from __future__ import annotations

import os
from pathlib import Path

from lynex._diskbuffer import HEADER, DiskBuffer
from lynex._source import EVENT, SCORE, Batch


def drain(buf: DiskBuffer, max_items: int = 100, max_bytes: int = 1 << 20) -> list[Batch]:
    batches = []
    while (batch := buf.take(max_items, max_bytes)) is not None:
        batches.append(batch)
        buf.ack(batch)
    return batches


def test_items_come_back_in_order_in_batches_of_one_kind(tmp_path: Path) -> None:
    buf = DiskBuffer(str(tmp_path), 1 << 20)
    for i in range(5):
        assert buf.put(EVENT, b'{"n":%d}' % i)
    buf.put(SCORE, b'{"s":1}')
    buf.put(EVENT, b'{"n":5}')
    batches = drain(buf, max_items=3)
    assert [(b.kind, b.items) for b in batches] == [
        (EVENT, [b'{"n":0}', b'{"n":1}', b'{"n":2}']),
        (EVENT, [b'{"n":3}', b'{"n":4}']),
        (SCORE, [b'{"s":1}']),
        (EVENT, [b'{"n":5}']),
    ]
    assert buf.accepted == 7 and buf.pending() == (0, 0)
    buf.close()
    assert os.listdir(tmp_path) == []  # everything delivered: nothing left


def test_a_new_buffer_resumes_after_the_acknowledged_offset(tmp_path: Path) -> None:
    first = DiskBuffer(str(tmp_path), 1 << 20)
    for i in range(4):
        first.put(EVENT, b"%d" % i)
    batch = first.take(2, 1 << 20)
    assert batch is not None
    first.ack(batch)
    first.take(2, 1 << 20)  # taken, never acknowledged: the process "ends" here
    first.close()
    assert len(os.listdir(tmp_path)) == 1
    second = DiskBuffer(str(tmp_path), 1 << 20)
    second.maintain()
    assert [b.items for b in drain(second)] == [[b"2", b"3"]]
    second.close()
    assert os.listdir(tmp_path) == []


def test_a_torn_tail_is_cut(tmp_path: Path) -> None:
    first = DiskBuffer(str(tmp_path), 1 << 20)
    first.put(EVENT, b"whole")
    first.put(EVENT, b"torn-in-half")
    first.close()
    (path,) = tmp_path.iterdir()
    os.truncate(path, path.stat().st_size - 4)  # the writer died in the middle of the second frame
    second = DiskBuffer(str(tmp_path), 1 << 20)
    second.maintain()
    assert [b.items for b in drain(second)] == [[b"whole"]]
    second.close()
    assert os.listdir(tmp_path) == []


def test_a_corrupt_frame_ends_the_readable_part(tmp_path: Path) -> None:
    first = DiskBuffer(str(tmp_path), 1 << 20)
    for payload in (b"one", b"two", b"three"):
        first.put(EVENT, payload)
    first.close()
    (path,) = tmp_path.iterdir()
    data = bytearray(path.read_bytes())
    data[data.index(b"two")] ^= 0xFF  # a flipped byte fails the CRC
    path.write_bytes(bytes(data))
    second = DiskBuffer(str(tmp_path), 1 << 20)
    second.maintain()
    assert [b.items for b in drain(second)] == [[b"one"]]
    second.close()


def test_a_live_buffers_files_are_never_adopted(tmp_path: Path) -> None:
    owner = DiskBuffer(str(tmp_path), 1 << 20)
    owner.put(EVENT, b"mine")
    other = DiskBuffer(str(tmp_path), 1 << 20)
    other.maintain()  # flock conflicts between two open files, even in one process
    assert other.take(10, 1 << 20) is None
    owner.close()  # not delivered: stays, unlocked
    other._next_scan = 0
    other.maintain()
    batch = other.take(10, 1 << 20)
    assert batch is not None and batch.items == [b"mine"] and not batch.own
    other.ack(batch)
    other.close()
    assert os.listdir(tmp_path) == []


def test_the_buffer_is_bounded(tmp_path: Path) -> None:
    buf = DiskBuffer(str(tmp_path), max_bytes=HEADER + 3 * (9 + 100))
    assert [buf.put(EVENT, b"x" * 100) for _ in range(4)] == [True, True, True, False]
    drain(buf)
    assert buf.put(EVENT, b"x" * 100)  # room again once delivered


def test_segments_rotate_and_delivered_ones_are_deleted(tmp_path: Path) -> None:
    buf = DiskBuffer(str(tmp_path), 1 << 20, segment_bytes=200)
    for i in range(10):
        buf.put(EVENT, b"%02d" % i + b"." * 40)
    assert len(os.listdir(tmp_path)) > 2
    items = [item[:2] for b in drain(buf, max_items=3) for item in b.items]
    assert items == [b"%02d" % i for i in range(10)]
    assert len(os.listdir(tmp_path)) == 1  # only the active segment stays while the buffer is open
    buf.close()
    assert os.listdir(tmp_path) == []


def test_a_stale_tmp_file_is_swept(tmp_path: Path) -> None:
    stale = tmp_path / "0000000000000-1-dead.lxb.tmp"
    stale.write_bytes(b"LXBUF\x00\x00\x01" + bytes(8))
    os.utime(stale, (1, 1))
    fresh = tmp_path / "0000000000001-1-beef.lxb.tmp"
    fresh.write_bytes(b"")
    buf = DiskBuffer(str(tmp_path), 1 << 20)
    buf.maintain()
    assert sorted(os.listdir(tmp_path)) == [fresh.name]
    buf.close()

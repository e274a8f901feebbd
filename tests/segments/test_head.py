"""The head's sorted runs: a step's records stay zero-copy slices when each is in time order."""

from __future__ import annotations

import pyarrow as pa

from lynex_box.segments.head import HeadBuffer, sorted_runs

_TS = pa.timestamp("us", tz="UTC")


def batch(starts: list[int], tag: str) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "project_id": pa.array(["p"] * len(starts)),
            "start_time": pa.array(starts, pa.int64()).cast(_TS),
            "name": pa.array([f"{tag}{i}" for i in range(len(starts))]),
        }
    )


def starts(table: pa.Table) -> list[int]:
    return table.column("start_time").cast(pa.int64()).to_pylist()


def test_a_table_in_order_is_one_run_as_it_is() -> None:
    table = pa.Table.from_batches([batch([1, 2, 3], "a"), batch([4, 4, 9], "b")])
    assert sorted_runs(table) == [table]


def test_records_in_order_each_stay_zero_copy_runs_and_only_a_disordered_one_is_sorted() -> None:
    first, second, third = batch([5, 6, 7], "a"), batch([1, 2, 8], "b"), batch([9, 3, 4], "c")
    runs = sorted_runs(pa.Table.from_batches([first, second, third]))
    assert [starts(run) for run in runs] == [[5, 6, 7], [1, 2, 8], [3, 4, 9]]
    assert runs[2].column("name").to_pylist() == ["c1", "c2", "c0"]  # rows move whole
    names = [run.column("name").chunk(0).buffers()[2].address for run in runs[:2]]
    assert names == [first.column("name").buffers()[2].address, second.column("name").buffers()[2].address]


def test_the_head_keeps_every_row_of_a_step_in_runs() -> None:
    head = HeadBuffer(lsn_from=1, lsn_to=0)
    head.add(pa.Table.from_batches([batch([5, 6], "a"), batch([2, 1], "b")]), lsn_to=3)
    runs = head.project_tables("p")
    assert [starts(run) for run in runs] == [[5, 6], [1, 2]]
    assert head.rows == 4 and head.lsn_to == 3

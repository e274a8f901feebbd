"""Rows over columns: lets row-at-a-time enrichers read and write a columnar batch of spans.

The native decoder yields columns (an Arrow table), while enrichers take `list[Row]` and use
`row.get(k)`, `row[k]`, `row[k] = v` and `k in row`. `RowView` answers those from the table's
columns, converting a column to Python values only when an enricher first touches it, and
`ColumnRows.table()` writes back only the columns that were changed. Keys that are not span
columns (transient `_` hints) live in the view itself. It must never change the rows' order.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from lynex_box.schema.span import SPAN_SCHEMA, TIMESTAMP_COLUMNS

_COLUMN_NAMES = frozenset(SPAN_SCHEMA.names)


class ColumnRows:
    """A span table seen as rows; `rows()` for the enrichers, then `table()` for the result."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self._lists: dict[str, list[Any]] = {}
        self._dirty: set[str] = set()

    def column(self, name: str) -> list[Any]:
        values = self._lists.get(name)
        if values is None:
            col = self._table.column(name)
            if name in TIMESTAMP_COLUMNS:
                col = col.cast(pa.int64())  # rows carry epoch µs ints, as decoders make them
            values = self._lists[name] = col.to_pylist()
        return values

    def mark(self, name: str) -> None:
        self._dirty.add(name)

    def rows(self) -> list[dict[str, Any]]:
        return [RowView(self, i) for i in range(self._table.num_rows)]

    def table(self) -> pa.Table:
        table = self._table
        for name in sorted(self._dirty):
            index = table.schema.get_field_index(name)
            field = table.schema.field(index)
            if name in TIMESTAMP_COLUMNS:
                array = pa.array(self._lists[name], pa.int64()).cast(field.type)
            else:
                array = pa.array(self._lists[name], field.type)
            table = table.set_column(index, field, array)
        return table


class RowView(dict[str, Any]):
    """One row of a `ColumnRows`; a dict only for the keys that are not span columns."""

    __slots__ = ("_index", "_rows")

    def __init__(self, rows: ColumnRows, index: int) -> None:
        super().__init__()
        self._rows = rows
        self._index = index

    def get(self, key: str, default: Any = None) -> Any:
        if key in _COLUMN_NAMES:
            return self._rows.column(key)[self._index]  # a decoded row has every column, maybe None
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        if key in _COLUMN_NAMES:
            return self._rows.column(key)[self._index]
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key in _COLUMN_NAMES:
            self._rows.column(key)[self._index] = value
            self._rows.mark(key)
        else:
            super().__setitem__(key, value)

    def __contains__(self, key: object) -> bool:
        return key in _COLUMN_NAMES or super().__contains__(key)

"""The pipeline's PII stage: every text column of a decoded span batch scanned before the batch reaches the head.

It runs on the decoded columns of every source (native, OTLP, Langfuse), as an enricher (`Engine` always adds it,
so a WAL replayed by any process that opens the engine is redacted too). Per project, the policy in force when the
pipeline processes the record applies: `detect` writes the `pii` column, `redact` also replaces the text columns.

The `pii` column (docs/format/segments.md): null when nothing was found, else a JSON object
`{"mode": "detect" | "redact", "found": {kind: count}}` with kinds `email`, `phone`, `card`, `iban`, `ip`,
`ssn`, `secret`, `key` (a masked attribute key) and `custom:<name>`; never a value. Must never do I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.config import PiiSettings
from lynex_box.pii.policy import PiiPolicy
from lynex_box.pii.scanner import Counts, Scanner

# The free-text columns of a span (ids, kinds, model names, costs and times are not scanned).
TEXT_COLUMNS: Final = ("name", "status_message", "input", "output", "tool_calls", "attributes", "session_id", "user_id")
JSON_COLUMNS: Final = frozenset({"input", "output", "tool_calls"})  # JSON text (or plain text): kept valid
LIST_COLUMNS: Final = ("tags",)
Row = dict[str, Any]


class PiiStage:
    """The enricher: per-project scanners, swapped as a whole when the settings change (`set_policies`)."""

    def __init__(self, settings: PiiSettings, policies: Mapping[str, PiiPolicy] | None = None) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._scanners: dict[str, Scanner | None] = {}
        self._default = self._build(PiiPolicy(settings.default_mode))
        self.set_policies(policies or {})

    def _build(self, policy: PiiPolicy) -> Scanner | None:
        if policy.mode == "off":
            return None
        return Scanner(policy, self.settings.entropy_min_bits, padded_masks=self.settings.redact_in_request)

    def set_policies(self, policies: Mapping[str, PiiPolicy]) -> None:
        """Compile the projects' policies (a project absent uses `[pii] default_mode`)."""
        built = {project: self._build(policy) for project, policy in policies.items()}
        with self._lock:
            self._scanners = built

    def scanner(self, project_id: str) -> Scanner | None:
        """The scanner in force for `project_id`; None when its mode is off."""
        return self._scanners.get(project_id, self._default)

    # ------------------------------------------------------------------ Enricher
    def enrich_table(self, table: pa.Table) -> pa.Table:
        if table.num_rows == 0:
            return table
        project_col = table.column("project_id")
        columns = {name: table.column(name).combine_chunks() for name in (*TEXT_COLUMNS, *LIST_COLUMNS)}
        found = self.scan(project_col.combine_chunks(), columns)
        if found is None:
            return table
        changed, pii = found
        for name, arr in changed.items():
            table = table.set_column(table.schema.get_field_index(name), name, arr)
        return table.set_column(table.schema.get_field_index("pii"), "pii", pii)

    def __call__(self, rows: list[Row]) -> None:
        if not rows:
            return
        projects = pa.array([r["project_id"] for r in rows], pa.string())
        columns = {name: pa.array([r.get(name) for r in rows], pa.string()) for name in TEXT_COLUMNS}
        columns.update({name: pa.array([r.get(name) for r in rows], pa.list_(pa.string())) for name in LIST_COLUMNS})
        found = self.scan(projects, columns)
        if found is None:
            return
        changed, pii = found
        for name, arr in {**changed, "pii": pii}.items():
            for row, value in zip(rows, arr.to_pylist(), strict=True):
                row[name] = value

    # ------------------------------------------------------------------ the scan
    def scan(self, projects: pa.Array, columns: dict[str, pa.Array]) -> tuple[dict[str, pa.Array], pa.Array] | None:
        """(the changed columns, the `pii` column) of a batch; None when no project of it scans anything."""
        distinct = pc.unique(projects).to_pylist()
        active = [(p, s) for p in distinct if (s := self.scanner(p)) is not None]
        if not active:
            return None
        counts: dict[int, Counts] = {}
        modes: dict[str, str] = {}
        out = dict(columns)
        for project, scanner in active:
            modes[project] = scanner.policy.mode
            selected = None if len(distinct) == 1 else pc.equal(projects, project)
            for name in TEXT_COLUMNS:
                out[name] = scanner.column(
                    out[name], None, selected, counts, attributes=name == "attributes", json=name in JSON_COLUMNS
                )
            for name in LIST_COLUMNS:
                out[name] = _scan_list(scanner, out[name], selected, counts)
        changed = {name: arr for name, arr in out.items() if arr is not columns[name]}
        return changed, _pii_column(projects, counts, modes)


def _scan_list(scanner: Scanner, arr: pa.Array, selected: pa.Array | None, counts: dict[int, Counts]) -> pa.Array:
    """A list<string> column (tags): its values scanned, each counted for its span."""
    if arr.null_count == len(arr):
        return arr
    values = arr.flatten()
    if len(values) == 0:
        return arr
    parents = pc.list_parent_indices(arr)
    chosen = None if selected is None else selected.take(parents)
    new = scanner.column(values, parents, chosen, counts)
    if new is values:
        return arr
    offsets = pc.subtract(arr.offsets, arr.offsets[0])
    return pa.ListArray.from_arrays(offsets, new, mask=arr.is_null())


def _pii_column(projects: pa.Array, counts: dict[int, Counts], modes: dict[str, str]) -> pa.Array:
    values: list[str | None] = [None] * len(projects)
    for row, found in counts.items():
        if found:
            mode = modes[projects[row].as_py()]
            values[row] = orjson.dumps({"mode": mode, "found": dict(sorted(found.items()))}).decode()
    return pa.array(values, pa.string())

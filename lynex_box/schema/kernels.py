"""Arrow kernels over span columns that more than one stage applies (the native decoder, the cost enricher).

Kept apart from `span` because it imports `pyarrow.compute`, which the OTLP decode worker process does not load.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def present(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """True where a text is neither null nor empty (the reference decoder's `value or ...`)."""
    return pc.and_kleene(pc.is_valid(values), pc.not_equal(values, ""))

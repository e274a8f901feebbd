"""Enrichment after the acknowledgement: model metadata, the request fingerprint and the provider's system fingerprint.

Per batch, over whole columns: each distinct (provider, model) is described once (`pricing.models`), and the
fingerprints are one DuckDB statement over the batch's `model`, `input` and `attributes` columns. What goes into
the fingerprint is in docs/models.md and `FINGERPRINT_SQL`; changing it changes every fingerprint, so it is versioned
(`lynex-fp-1`). It must never fail a batch on span data: a text that is not JSON gives no system prompt or parameter.
"""

from __future__ import annotations

import threading
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.pipeline.decode.types import Row
from lynex_box.pricing.models import ModelCatalog, ModelMeta
from lynex_box.schema.span import SPAN_SCHEMA

_PARAMS: Final = (
    "coalesce(json_extract(attributes, '$.model_parameters'), json_extract(attributes, '$.metadata.model_parameters'))"
)

FINGERPRINT_SQL: Final = f"""
WITH parts AS (
    SELECT
        model,
        CASE WHEN json_valid(input) THEN list_transform(
            list_filter(json_extract(input, '$.messages[*]'), lambda m: json_extract_string(m, '$.role') = 'system'),
            lambda m: json_extract_string(m, '$.content'))
        END AS system_prompt,
        CASE WHEN json_valid(attributes) THEN {_PARAMS} END AS p,
        CASE WHEN json_valid(attributes) THEN coalesce(
            json_extract_string(attributes, '$."gen_ai.openai.response.system_fingerprint"'),
            json_extract_string(attributes, '$."gen_ai.response.system_fingerprint"'),
            json_extract_string(attributes, '$.metadata.system_fingerprint'))
        END AS system_fingerprint
    FROM batch
)
SELECT
    CASE WHEN model IS NOT NULL AND model <> '' THEN sha256(json_object(
        'v', 'lynex-fp-1',
        'model', model,
        'system', system_prompt,
        'temperature', TRY_CAST(json_extract_string(p, '$.temperature') AS DOUBLE),
        'top_p', TRY_CAST(json_extract_string(p, '$.top_p') AS DOUBLE),
        'max_tokens', TRY_CAST(coalesce(json_extract_string(p, '$.max_tokens'),
                                        json_extract_string(p, '$.max_completion_tokens'),
                                        json_extract_string(p, '$.max_output_tokens')) AS BIGINT),
        'tools', json_extract(p, '$.tools'),
        'response_format', json_extract(p, '$.response_format')
    ))[1:32] END AS request_fingerprint,
    system_fingerprint
FROM parts
"""
"""The request fingerprint: the first 32 hex digits of SHA-256 over a JSON object of the model as sent, the system
messages' contents, and temperature, top_p, max_tokens (or max_completion_tokens / max_output_tokens), tools and
response_format from `attributes.model_parameters` (`attributes.metadata.model_parameters` for native events). A
span without a model has none."""

_META_COLUMNS: Final = ("model_id", "model_provider", "model_family", "context_window", "modalities")


class ModelMetaEnricher:
    """Callable enricher: fills the model metadata and fingerprint columns of every span that names a model."""

    def __init__(self, catalog: ModelCatalog | None = None) -> None:
        self.catalog = catalog or ModelCatalog()
        self._local = threading.local()

    def __call__(self, rows: list[Row]) -> None:
        if not rows:
            return
        columns = ("provider", "model", "input", "attributes")
        table = pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns})
        done = self._columns(table)
        for name, values in done.items():
            for row, value in zip(rows, values.to_pylist(), strict=True):
                row[name] = value

    def enrich_table(self, table: pa.Table) -> pa.Table:
        if not table.num_rows:
            return table
        for name, values in self._columns(table).items():
            index = table.schema.get_field_index(name)
            table = table.set_column(index, table.schema.field(index), values)
        return table

    def _columns(self, table: pa.Table) -> dict[str, pa.Array]:
        out = self._metadata(table)
        fingerprints = self._fingerprints(table)
        out["request_fingerprint"] = fingerprints.column("request_fingerprint").combine_chunks().cast(pa.string())
        out["system_fingerprint"] = fingerprints.column("system_fingerprint").combine_chunks().cast(pa.string())
        return out

    def _metadata(self, table: pa.Table) -> dict[str, pa.Array]:
        """Each distinct (provider, model) described once, then spread over the rows with `take`."""
        provider = table.column("provider").combine_chunks().cast(pa.string())
        model = table.column("model").combine_chunks().cast(pa.string())
        keys = pc.binary_join_element_wise(pc.fill_null(provider, ""), model, "\x1f").dictionary_encode()
        metas: list[ModelMeta] = []
        for key in keys.dictionary.to_pylist():
            sent_provider, sent_model = key.split("\x1f", 1)
            metas.append(self.catalog.describe(sent_provider or None, sent_model))
        out = {}
        for position, name in enumerate(_META_COLUMNS):
            field_type = SPAN_SCHEMA.field(name).type
            distinct = pa.array([m[position] for m in metas], field_type)
            out[name] = distinct.take(keys.indices) if len(distinct) else pa.nulls(len(model), field_type)
        return out

    def _fingerprints(self, table: pa.Table) -> pa.Table:
        conn = getattr(self._local, "conn", None)
        if conn is None:  # one in-memory DuckDB per pipeline thread; DuckDB releases the GIL while it works
            conn = self._local.conn = duckdb.connect(":memory:", config={"threads": 1})
        batch = pa.table({c: table.column(c).cast(pa.string()) for c in ("model", "input", "attributes")})
        conn.register("batch", batch)
        try:
            return conn.sql(FINGERPRINT_SQL).to_arrow_table()
        finally:
            conn.unregister("batch")

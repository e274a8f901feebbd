"""Enrichment after the acknowledgement: model metadata, the request fingerprint and the provider's system fingerprint.

Per batch, over whole columns: each distinct (provider, model) is described once (`pricing.models`), and the
fingerprints are one DuckDB statement over the batch's `model`, `input` and `attributes` columns. What goes into
the fingerprint is in docs/models.md and `FINGERPRINT_SQL`; changing it changes every fingerprint, so it is versioned
(`lynex-fp-1`). It must never fail a batch on span data: a text that is not JSON gives no system prompt or parameter.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.pipeline.decode.types import Row
from lynex_box.pricing.models import ModelCatalog, ModelMeta
from lynex_box.schema.span import SPAN_SCHEMA

log = logging.getLogger("lynex.pipeline")

# One parse of `attributes` per span: every value the fingerprint reads, by position (1-based in SQL). Each
# parameter is looked up in `model_parameters` (OTLP, Langfuse), then `metadata.model_parameters` (native events).
_PARAMETERS: Final = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "max_output_tokens", "tools",
                      "response_format")  # fmt: skip
_SYSTEM_FINGERPRINTS: Final = (
    '$."gen_ai.openai.response.system_fingerprint"',
    '$."gen_ai.response.system_fingerprint"',
    "$.metadata.system_fingerprint",
)
_PATHS: Final = [
    *(f"$.{where}.{name}" for name in _PARAMETERS for where in ("model_parameters", "metadata.model_parameters")),
    *_SYSTEM_FINGERPRINTS,
]


def _param(name: str) -> str:
    """SQL of a parameter's JSON text (null when absent) from the extracted list `v`."""
    i = 2 * _PARAMETERS.index(name) + 1
    return f"coalesce(v[{i}], v[{i + 1}])"


def _number(name: str, sql_type: str) -> str:
    return f"TRY_CAST(trim({_param(name)}, '\"') AS {sql_type})"


_FINGERPRINTS_AT: Final = 2 * len(_PARAMETERS) + 1
_PATH_LIST: Final = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in _PATHS) + "]"

FINGERPRINT_SQL: Final = f"""
WITH parts AS (
    SELECT
        model,
        CASE WHEN json_valid(input) THEN list_where(
            json_extract_string(input, '$.messages[*].content'),
            list_transform(json_extract_string(input, '$.messages[*].role'), lambda r: r = 'system'))
        END AS system_prompt,
        CASE WHEN json_valid(attributes) THEN json_extract(attributes, {_PATH_LIST}) END AS v
    FROM batch
)
SELECT
    sha256(json_object(
        'v', 'lynex-fp-1',
        'model', model,
        'system', system_prompt,
        'temperature', {_number("temperature", "DOUBLE")},
        'top_p', {_number("top_p", "DOUBLE")},
        'max_tokens', coalesce({_number("max_tokens", "BIGINT")}, {_number("max_completion_tokens", "BIGINT")},
                               {_number("max_output_tokens", "BIGINT")}),
        'tools', {_param("tools")},
        'response_format', {_param("response_format")}
    ))[1:32] AS request_fingerprint,
    trim(coalesce(v[{_FINGERPRINTS_AT}], v[{_FINGERPRINTS_AT + 1}], v[{_FINGERPRINTS_AT + 2}]), '"')
        AS system_fingerprint
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
        # only the spans that name a model are read (JSON parsing is the cost); the others get nulls
        named = pc.fill_null(pc.not_equal(table.column("model"), ""), False).combine_chunks()
        nulls = pa.nulls(table.num_rows, pa.string())
        if not pc.any(named).as_py():
            out["request_fingerprint"] = out["system_fingerprint"] = nulls
            return out
        try:
            fingerprints = self._fingerprints(table.filter(named))
        except duckdb.Error:  # never a failed batch for span data: the spans go on without fingerprints
            log.exception("request fingerprints failed; the batch is stored without them rows=%d", table.num_rows)
            out["request_fingerprint"] = out["system_fingerprint"] = nulls
            return out
        for name in ("request_fingerprint", "system_fingerprint"):
            values = fingerprints.column(name).combine_chunks().cast(pa.string())
            out[name] = pc.replace_with_mask(nulls, named, values)
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

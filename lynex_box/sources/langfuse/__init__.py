"""Langfuse compatibility: the legacy ingestion batch and its pre-ack check (`batch`), its events as span rows
(`observations`, `hints`), the pipeline's decoder of its WAL records (`decoder`), the read-time merge of updates
(`fold`, and `upserts` for the same rule in SQL) and the trace-level view (`trace_view`). Routes are in
`lynex_box.api.ingest.langfuse`; Langfuse's OTLP spans go through `lynex_box.sources.otlp`."""

from lynex_box.sources.langfuse.batch import BatchPlan, InvalidBatch, answer, plan_batch
from lynex_box.sources.langfuse.fold import fold_langfuse_rows
from lynex_box.sources.langfuse.hints import ObservationHints
from lynex_box.sources.langfuse.observations import SOURCE, UPDATE_SOURCE, batch_rows

__all__ = [
    "SOURCE",
    "UPDATE_SOURCE",
    "BatchPlan",
    "InvalidBatch",
    "ObservationHints",
    "answer",
    "batch_rows",
    "fold_langfuse_rows",
    "plan_batch",
]

"""Langfuse compatibility, the pure part: the legacy ingestion batch (`batch`), its events as span rows
(`observations`), the read-time merge of updates (`fold`). Routes are in `lynex_box.api.langfuse_routes`,
the pipeline decoder in `lynex_box.pipeline.langfuse_decoder`; Langfuse's OTLP spans go through `lynex_box.otlp`."""

from lynex_box.langfuse.batch import BatchPlan, InvalidBatch, answer, plan_batch
from lynex_box.langfuse.fold import fold_langfuse_rows
from lynex_box.langfuse.hints import ObservationHints
from lynex_box.langfuse.observations import SOURCE, UPDATE_SOURCE, batch_rows

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

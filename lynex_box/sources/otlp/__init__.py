"""OTLP/HTTP ingestion, pure part: check and decode export requests, map spans to span rows, encode the answers.

`check` is the request path's cheap look at a trace export, `decode` turns bodies into records, `mapping` turns
span records into rows (with `conventions`, `keys`, `values`, `content`, `context`, `usage`, `messages`,
`flattened`, `events`), `response` builds answer bodies; none of these does I/O. The pipeline's decoder of OTLP
WAL records is `decoder` (run in worker processes by `decode_process`/`decode_worker`, over `worker_protocol`),
and `fold` puts log-event content back on its span at read time. The HTTP endpoints live in
`lynex_box/api/ingest/otlp.py` and call these functions.
"""

from lynex_box.sources.otlp.decode import (
    decode_logs_json,
    decode_logs_protobuf,
    decode_traces_json,
    decode_traces_protobuf,
)
from lynex_box.sources.otlp.events import join_log_events
from lynex_box.sources.otlp.mapping import (
    MappedBatch,
    MappedColumns,
    SpanRejected,
    map_columns,
    map_span,
    map_spans,
    reject_reason,
)
from lynex_box.sources.otlp.messages import normalize_messages
from lynex_box.sources.otlp.records import OtlpDecodeError, OtlpEvent, OtlpLogRecord, OtlpSpan
from lynex_box.sources.otlp.response import (
    encode_error_status,
    encode_logs_response,
    encode_metrics_response,
    encode_trace_response,
)

__all__ = [
    "MappedBatch",
    "MappedColumns",
    "OtlpDecodeError",
    "OtlpEvent",
    "OtlpLogRecord",
    "OtlpSpan",
    "SpanRejected",
    "decode_logs_json",
    "decode_logs_protobuf",
    "decode_traces_json",
    "decode_traces_protobuf",
    "encode_error_status",
    "encode_logs_response",
    "encode_metrics_response",
    "encode_trace_response",
    "join_log_events",
    "map_columns",
    "map_span",
    "map_spans",
    "normalize_messages",
    "reject_reason",
]

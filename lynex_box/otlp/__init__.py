"""OTLP/HTTP ingestion, pure part: check and decode export requests, map spans to span rows, encode the answers.

`check` is the request path's cheap look at a trace export, `decode` turns bodies into records, `mapping` turns
span records into rows (with `conventions`, `keys`, `values`, `content`, `context`, `usage`, `messages`,
`flattened`, `events`), `response` builds answer bodies. Nothing here does I/O: the HTTP endpoints live in
`lynex_box/api/otlp_routes.py` and the WAL decoders in `lynex_box/pipeline/otlp_decoders.py`, which call these
functions.
"""

from lynex_box.otlp.decode import (
    decode_logs_json,
    decode_logs_protobuf,
    decode_traces_json,
    decode_traces_protobuf,
)
from lynex_box.otlp.events import join_log_events
from lynex_box.otlp.mapping import (
    MappedBatch,
    MappedColumns,
    SpanRejected,
    map_columns,
    map_span,
    map_spans,
    reject_reason,
)
from lynex_box.otlp.messages import normalize_messages
from lynex_box.otlp.records import OtlpDecodeError, OtlpEvent, OtlpLogRecord, OtlpSpan
from lynex_box.otlp.response import (
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

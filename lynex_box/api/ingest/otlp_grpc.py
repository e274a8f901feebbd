"""The OTLP/gRPC receiver: `TraceService/Export`, `LogsService/Export` and `MetricsService/Export` on
`[server] otlp_grpc_port` (4317), in this process, on the app's event loop (grpc.aio).

An export takes the path of OTLP/HTTP's protobuf body, step for step: admission (`admission.identify` with the
`authorization` metadata, then `admission.admit_key`), metering, the same check, the same WAL record
(`otlp.accept_export`), answered once durable. The handlers take the request's bytes undecoded (no request
deserializer): what goes into the WAL is exactly what the sender encoded, as over HTTP. gRPC itself bounds a
message at `[ingest] max_body_bytes` (decompressed, so a gzip bomb is refused as early) and decompresses gzip.

Refusals follow the OTLP specification's gRPC mapping: INVALID_ARGUMENT for a malformed or wholly unstorable
export, UNAUTHENTICATED (401), PERMISSION_DENIED (403), RESOURCE_EXHAUSTED with a `google.rpc.RetryInfo` for a
rate limit (retryable because of the RetryInfo), UNAVAILABLE with a RetryInfo for backpressure or a locked
encryption key. The RetryInfo travels as the status' details (`grpc-status-details-bin`, which gRPC clients
decode) and, for the OpenTelemetry Python exporter, which reads only that, as `google.rpc.retryinfo-bin` too.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from typing import Final

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from lynex_box.api.errors import ApiError
from lynex_box.api.ingest.admission import admit_key, identify
from lynex_box.api.ingest.otlp import accept_export
from lynex_box.api.principal import is_loopback_address
from lynex_box.api.services import Services
from lynex_box.sources.otlp import (
    OtlpDecodeError,
    encode_logs_response,
    encode_metrics_response,
    encode_trace_response,
)
from lynex_box.wal.records import RecordType

log = logging.getLogger("lynex.otlp_grpc")

Encode = Callable[[int, str, bool], bytes]
Failure = tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]
# service name -> (the WAL record its exports become, None: accepted and dropped; its response encoder)
SERVICES: Final[dict[str, tuple[RecordType | None, Encode]]] = {
    "opentelemetry.proto.collector.trace.v1.TraceService": (RecordType.OTLP_TRACES, encode_trace_response),
    "opentelemetry.proto.collector.logs.v1.LogsService": (RecordType.OTLP_LOGS, encode_logs_response),
    "opentelemetry.proto.collector.metrics.v1.MetricsService": (None, encode_metrics_response),
}
_CODES: Final = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}
RETRY_INFO_KEY: Final = "google.rpc.retryinfo-bin"
STATUS_DETAILS_KEY: Final = "grpc-status-details-bin"


class GrpcListenError(RuntimeError):
    """The OTLP/gRPC port could not be listened on; the message names the setting that chooses it."""


def refusal(exc: ApiError) -> Failure:
    """The gRPC status, message and trailing metadata of an admission or ingest refusal. A rate limit is
    RESOURCE_EXHAUSTED whatever HTTP status it carries (OTLP/HTTP answers it 503 for old exporters)."""
    code = grpc.StatusCode.RESOURCE_EXHAUSTED if exc.code == "rate_limited" else _CODES.get(exc.status)
    code = code or grpc.StatusCode.INTERNAL
    retry_after = exc.headers.get("Retry-After")
    if retry_after is None or code not in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
        return code, exc.message, ()
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=int(retry_after)))
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=exc.message, details=[detail])
    trailers = ((STATUS_DETAILS_KEY, status.SerializeToString()), (RETRY_INFO_KEY, info.SerializeToString()))
    return code, exc.message, trailers


def peer_host(peer: str) -> str:
    """The address of a gRPC peer string (`ipv4:127.0.0.1:5000`, `ipv6:%5B::1%5D:5000`); "" for others."""
    kind, _, rest = urllib.parse.unquote(peer).partition(":")
    if kind not in ("ipv4", "ipv6"):
        return ""
    return rest.rpartition(":")[0].strip("[]")


def _exporter(svc: Services, kind: RecordType | None, encode: Encode) -> Callable[..., object]:
    async def export(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        metadata = {key.lower(): value for key, value in context.invocation_metadata() or ()}
        authorization = metadata.get("authorization")
        failure: Failure
        try:
            loopback = is_loopback_address(peer_host(context.peer()))
            key = await identify(svc, authorization if isinstance(authorization, str) else None, loopback)
            admitted = admit_key(svc, key)
            admitted.charge(nbytes=len(request), status=503)
            rejected, reason = 0, ""
            if kind is not None and request:
                rejected, reason = await accept_export(admitted, kind, request, as_json=False)
            return encode(rejected, reason, False)
        except OtlpDecodeError as exc:
            failure = (grpc.StatusCode.INVALID_ARGUMENT, str(exc), ())
        except ApiError as exc:
            failure = refusal(exc)
        except Exception:
            log.exception("otlp/grpc export failed peer=%s", context.peer())
            failure = (grpc.StatusCode.INTERNAL, "internal error; the server log has the details", ())
        await context.abort(*failure)
        raise AssertionError("context.abort returned")  # it raises, always

    return export


def handlers(svc: Services) -> list[grpc.GenericRpcHandler]:
    """One handler per OTLP service, taking and answering bytes (no (de)serializer: the WAL keeps the request)."""
    return [
        grpc.method_handlers_generic_handler(name, {"Export": grpc.unary_unary_rpc_method_handler(_exporter(svc, *s))})
        for name, s in SERVICES.items()
    ]


class OtlpGrpcServer:
    """The receiver of one app: `start` listens (GrpcListenError when the port is taken), `stop` lets running
    exports finish for up to `[server] stop_timeout_s`, then cuts them. Started last and stopped first by the
    app, so no export reaches an engine that is closing."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.port = 0
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Listen on `[server] host`:`otlp_grpc_port`; the port listened on."""
        host, port = self.svc.settings.server.host, self.svc.settings.server.otlp_grpc_port
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        server, refused = await self._bind(address)
        if server is None:
            raise GrpcListenError(
                f"cannot listen for OTLP/gRPC on {address} ({refused}); hint: stop what uses that port, or set "
                "[server] otlp_grpc_port (LYNEX_SERVER_OTLP_GRPC_PORT) to another port, or 0 to turn it off"
            )
        try:
            await server.start()
        except BaseException:
            await server.stop(None)
            raise
        self._server = server
        log.info("otlp/grpc listening address=%s port=%d", host, self.port)
        return self.port

    async def _bind(self, address: str) -> tuple[grpc.aio.Server | None, str]:
        """A server bound to `address`, or (None, why not). A failed one is stopped and dropped here, so that the
        error raised by `start` holds no reference to it: gRPC's poller thread lives as long as a server does."""
        options = [
            # after decompression, so a gzip bomb stops here
            ("grpc.max_receive_message_length", self.svc.settings.ingest.max_body_bytes),
            ("grpc.so_reuseport", 0),  # gRPC's default shares a port silently with another process: refuse instead
        ]
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers(handlers(self.svc))
        try:
            self.port = server.add_insecure_port(address)
        except RuntimeError as exc:  # gRPC's way of saying the bind failed
            await server.stop(None)
            return None, str(exc)
        return server, ""

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(self.svc.settings.server.stop_timeout_s)
            self._server = None

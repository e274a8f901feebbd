"""The source protocols spans arrive in, one folder each: `native` (our events API), `otlp` (OTLP/HTTP) and
`langfuse` (Langfuse's legacy ingestion), plus `common` (the pre-ack helpers they share).

Each source holds its pre-ack check (run on the request path, before the WAL append), its WAL decoder (run by the
pipeline after the acknowledgement, registered with `pipeline.decode.registry` by `engine`) and its read-time fold.
The HTTP routes stay in `lynex_box.api` and call into these. This package must stay import-light: the OTLP decode
worker process imports `sources.otlp` through it.
"""

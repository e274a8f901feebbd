"""The native event format, pure part: its request-path checks and its normalisation into span columns.

`validate` and `fastcheck` check each event before the `202` (`jsondepth` bounds how deeply client JSON
nests), `native` turns checked events into span columns in the pipeline, `timefmt` parses the two time
forms. Nothing here does I/O: the HTTP endpoint is `lynex_box/api/ingest_routes.py`, the WAL decoders are in
`lynex_box/pipeline/` (`decoders.py`, `native_batch.py`).
"""

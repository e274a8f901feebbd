"""The native event format (our events API), without I/O: its request-path checks, its normalisation into span
columns and the pipeline's decoders of its WAL records.

`fastcheck` and then `validate` check each event before the `202`; `normalize` turns a checked event into span
columns (the reference rules); `decoder` and `batch` are the pipeline's decoders of `EVENTS` records (the batch one
normalises runs of records at once). The HTTP endpoint is `lynex_box/api/ingest/events.py`, which calls these.
"""

"""The native events API: the pre-ack checks (`fastcheck`, then `validate`), the normalisation of an event into
span columns (`normalize`, the reference) and the pipeline's decoders of `EVENTS` records (`decoder`, `batch`).
The route is `lynex_box.api.ingest_routes`."""

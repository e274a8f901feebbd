"""The HTTP API: ingest, query and admin routes over the engine; JSON in, JSON out."""

"""Ingest: the native events API and OTLP/HTTP receivers, up to the durable WAL append."""

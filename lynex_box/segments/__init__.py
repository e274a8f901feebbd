"""The head (in-memory Arrow) and immutable Parquet segments; see docs/format/segments.md."""

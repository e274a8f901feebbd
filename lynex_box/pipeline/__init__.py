"""The pipeline: WAL records -> normalised, enriched spans -> head (and the flusher behind it)."""

"""Query core: catalog + head snapshot scanned by DuckDB in a thread, returning Arrow."""

"""Prompts: versions registered through the API (meta.db) joined with the versions seen in spans."""

"""Plugins: pluggy hook specifications (`hookspecs.py`), the host that discovers and isolates them (`host.py`),
and the `Events` interface (`events.py`) the components emit topics through.

This package sits low in the layers (above only the pure helpers): the components that emit topics (pipeline,
scores, alerts, auth) receive an `Events` at construction from app.py and never import the host. docs/plugins.md
documents every hook.
"""

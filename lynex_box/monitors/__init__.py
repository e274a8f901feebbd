"""Synthetic monitors: scheduled requests to a project's own HTTP endpoints or to an OpenAI-compatible model
endpoint, checked by assertions and recorded as traces of the project (docs/monitors.md).

`jsonpath.py` and `assertions.py` are pure checks of an answer, `spec.py` validates what a client sends, `store.py`
keeps monitors and their runs in meta.db, `request.py` sends one request under the alert deliveries' outbound
address policy, `trace.py` turns a run into native events, `runner.py` runs one monitor end to end and
`service.py` is the component app.py schedules.
"""

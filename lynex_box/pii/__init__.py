"""Server-side PII detection and redaction, per project (docs/pii.md).

`detectors` holds the patterns and their checks (pure), `policy` a project's validated setting, `scan` the
vectorised pass over a batch of spans that the pipeline runs before the head, `request` the byte-level pass of
`[pii] redact_in_request`, `store` the settings in meta.db and their reload.
"""

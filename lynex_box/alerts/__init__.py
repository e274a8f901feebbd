"""Alerts: rules over a project's span metrics, evaluated in the process, notifying webhooks, Slack and email.

`rules` validates what a client sends (pure), `metrics` builds the SQL of a rule's metric (pure), `store` keeps
rules and their state in meta.db and `history` their firings and deliveries, `sealing` encrypts channel URLs and
signing secrets (`clusterkey` keeps its key the cluster's in cluster mode), `payloads` shapes the notifications,
`delivery` sends them with retries off the event loop's critical path, `evaluator` runs due rules through the
query engine, and `service` wires these together for app.py.
"""

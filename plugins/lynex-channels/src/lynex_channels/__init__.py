"""Lynex Box's notification channel plugins: one module per channel type, each its own entry point in the group
`lynex_box.plugins` (so GET /v1/plugins lists each, and an operator can leave any out through
`[plugins] builtin_channels`). Shipped inside lynex-box's wheel and loaded by default (docs/plugins.md).

A channel type only checks settings, formats and sends once through the `Outbound` the alerts deliverer hands it;
retries, delivery records, sealing and the outbound address policy stay with the alerts feature.
"""

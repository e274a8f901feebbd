"""The CLI tests open engines on data dirs like the lifecycle tests do: the same `open_engine` fixture."""

from __future__ import annotations

from tests.lifecycle.conftest import open_engine  # noqa: F401 - fixture reused here

"""Fixtures of the crash tests: the real moto S3 server of tests/objstore, for phases that use a bucket."""

from __future__ import annotations

from tests.objstore.conftest import bucket, moto_server  # noqa: F401 - fixtures reused here

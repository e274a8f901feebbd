"""`GET /v1/projects/{pid}/attribute-keys`: the attribute and metadata keys of recent spans, most used first, so
the UI's filter builder can suggest keys that exist instead of making people guess them.

It reads a sample (the first `SAMPLE` spans with attributes in the range, not every span), since a suggestion needs
the common keys, not an exact census; the query runs in a worker thread like every read.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import json_response
from lynex_box.api.query.filters import RANGE
from lynex_box.api.query.reads import read_scope
from lynex_box.api.services import services

SAMPLE: Final = 5000  # spans read for the suggestions
TOP: Final = 100  # keys answered per kind

_SQL: Final = """
, sample AS (SELECT attributes FROM spans WHERE attributes IS NOT NULL LIMIT $sample),
attr AS (SELECT unnest(json_keys(attributes)) AS key FROM sample),
meta AS (
    SELECT unnest(json_keys(attributes, '$.metadata')) AS key FROM sample
    WHERE json_type(attributes, '$.metadata') = 'OBJECT')
SELECT 'attr' AS kind, key, count(*) AS count FROM attr WHERE key <> 'metadata' GROUP BY key
UNION ALL
SELECT 'meta' AS kind, key, count(*) AS count FROM meta GROUP BY key
ORDER BY count DESC, key
"""


async def attribute_keys(request: Request) -> Response:
    scope, _ = await read_scope(request)
    table = await services(request).engine.query.query_async(scope, _SQL, {"sample": SAMPLE})
    out: dict[str, list[dict[str, object]]] = {"attributes": [], "metadata": []}
    for row in table.to_pylist():
        bucket = out["attributes" if row["kind"] == "attr" else "metadata"]
        if len(bucket) < TOP:
            bucket.append({"key": row["key"], "count": row["count"]})
    return json_response(out)


routes = [Route("/v1/projects/{project_id}/attribute-keys", attribute_keys, methods=["GET"])]

_KEYS: Final = {"type": "array", "items": spec.obj(("key", "count"), key=spec.STR, count={"type": "integer"})}
OPENAPI: Final[spec.Paths] = {
    "/v1/projects/{project_id}/attribute-keys": {
        "get": spec.read(
            "Attribute and metadata keys of recent spans in the range, most used first (a sample, for suggestions)",
            RANGE,
            spec.obj(("attributes", "metadata"), attributes=_KEYS, metadata=_KEYS),
        )
    }
}

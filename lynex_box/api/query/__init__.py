"""Routes that read a project's data: traces, spans, metrics, sessions, users, scores, prompts, the export.

The caller is an API key of the project (read scope) or a user with a role on it (`principal.project_access`);
queries run in worker threads over the query engine, and what they build is planned in `lynex_box/query/`.
"""

from lynex_box.api import spec
from lynex_box.api.query import export, keys, list_export, prompts, scores, spans, traces

# the package's routes, and their OpenAPI descriptions (path -> method -> operation)
routes = [
    *spans.routes,
    *traces.routes,
    *scores.routes,
    *prompts.routes,
    *export.routes,
    *list_export.routes,
    *keys.routes,
]
openapi = spec.merge(
    spans.OPENAPI, traces.OPENAPI, scores.OPENAPI, prompts.OPENAPI, export.OPENAPI, list_export.OPENAPI, keys.OPENAPI
)

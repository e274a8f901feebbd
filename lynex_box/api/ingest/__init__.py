"""Routes that take data in: native events, OTLP/HTTP, Langfuse's ingestion API, score writes.

Every one lets a request in through `admission.py` (who sends, into which project, backpressure, metering)
before it reads the body; the answer waits until what it acknowledges is durable in the WAL.
"""

from lynex_box.api import spec
from lynex_box.api.ingest import events, langfuse, otlp, scores

# the package's routes, and their OpenAPI descriptions (path -> method -> operation)
routes = [*events.routes, *otlp.routes, *langfuse.routes, *scores.routes]
openapi = spec.merge(events.OPENAPI, otlp.OPENAPI, langfuse.OPENAPI, scores.OPENAPI)

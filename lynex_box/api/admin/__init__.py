"""Routes that administer a project: the project itself, API keys, settings, encryption, audit log, usage,
custom prices and repricing, alert rules, and deletion of data."""

from lynex_box.api import spec
from lynex_box.api.admin import alerts, deletion, prices, projects

# the package's routes, and their OpenAPI descriptions (path -> method -> operation)
routes = [*projects.routes, *deletion.routes, *prices.routes, *alerts.routes]
openapi = spec.merge(projects.OPENAPI, deletion.OPENAPI, prices.OPENAPI, alerts.OPENAPI)

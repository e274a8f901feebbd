"""Routes that administer a project: the project itself, API keys, settings, encryption, audit log, usage,
custom prices and repricing, alert rules, and deletion of data; and the cluster's state (`cluster.py`)."""

from lynex_box.api import spec
from lynex_box.api.admin import alerts, cluster, deletion, prices, projects

# the package's routes, and their OpenAPI descriptions (path -> method -> operation)
routes = [*projects.routes, *deletion.routes, *prices.routes, *alerts.routes, *cluster.routes]
openapi = spec.merge(projects.OPENAPI, deletion.OPENAPI, prices.OPENAPI, alerts.OPENAPI, cluster.OPENAPI)

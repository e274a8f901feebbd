"""Routes that administer a project: the project itself, API keys, trusted JWT issuers, settings, encryption,
audit log, usage, custom prices and repricing, alert rules, synthetic monitors, and deletion of data; and the
cluster's state (`cluster.py`), the plugins (`plugins.py`; a project's own: `project_plugins.py`) and the node's
platform alerts (`platform_alerts.py`), and a project's custom dashboard (`dashboards.py`)."""

from lynex_box.api import spec
from lynex_box.api.admin import (
    alerts,
    cluster,
    dashboards,
    deletion,
    jwt_trust,
    monitors,
    platform_alerts,
    plugins,
    prices,
    project_plugins,
    projects,
    saved_views,
)

# the package's routes, and their OpenAPI descriptions (path -> method -> operation)
routes = [
    *projects.routes,
    *jwt_trust.routes,
    *deletion.routes,
    *prices.routes,
    *alerts.routes,
    *monitors.routes,
    *cluster.routes,
    *plugins.routes,
    *project_plugins.routes,
    *platform_alerts.routes,
    *saved_views.routes,
    *dashboards.routes,
]
openapi = spec.merge(
    projects.OPENAPI,
    jwt_trust.OPENAPI,
    deletion.OPENAPI,
    prices.OPENAPI,
    alerts.OPENAPI,
    monitors.OPENAPI,
    cluster.OPENAPI,
    plugins.OPENAPI,
    project_plugins.OPENAPI,
    platform_alerts.OPENAPI,
    saved_views.OPENAPI,
    dashboards.OPENAPI,
)

"""Routes for people: login, sessions and passwords, members and invitations, single sign-on, SCIM provisioning."""

from lynex_box.api import spec
from lynex_box.api.accounts import auth, members, oidc, scim

# the package's routes, and their OpenAPI descriptions (path -> method -> operation)
routes = [*auth.routes, *members.routes, *oidc.routes, *scim.routes]
openapi = spec.merge(auth.OPENAPI, members.OPENAPI, oidc.OPENAPI, scim.OPENAPI)

"""Routes for people: login, sessions and passwords, members and invitations, single sign-on, SCIM provisioning."""

from lynex_box.api.accounts import auth, members, oidc, scim

routes = [*auth.routes, *members.routes, *oidc.routes, *scim.routes]

"""The authorisation matrix as data: every route of `/openapi.json`, who gets past authentication and
authorisation on it, and the answer everyone else gets. docs/security.md ("Threat model") is the contract.

One row per route (method, path): its rule, and the request that probes it (path ids of the target tenant,
a body valid enough to get past parsing). A rule says, for each kind of caller, whether it is let through or
refused, and with which status: `401` without valid credentials for the route, `403` for a role or scope too
low (or an API key on a route of another project, or a key where a user is needed), `404` where the server
hides that a project, org or SCIM resource of another tenant exists. The role and scope rights come from the
tables of docs/security.md (parsed by tests/auth/test_rbac.py), not from lynex_box/auth/rbac.py.

Pure data and logic: tests/e2e/test_authz_matrix.py runs the requests against a real server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from tests.auth.test_rbac import documented_scopes, documented_table

ALLOWED: Final = 0  # any answer but 401, 403, 404 and 5xx: the request got past authn/authz
ROLE_RIGHTS: Final = documented_table()  # role -> action -> allowed
SCOPE_RIGHTS: Final = documented_scopes()  # key scope -> actions


@dataclass(frozen=True)
class Who:
    """A kind of caller. `tenant`: for keys `same` (the target project P), `sibling` (another project of P's
    org A) or `other_org`; for users `A`, `B` (another org) or `project` (a role on P only, no org role);
    for SCIM tokens `A` or `B`. `role` is a user's org role in its org, or its role on P for `project`.
    `csrf` False: a session cookie sent without its X-CSRF-Token header (a cross-site request)."""

    name: str
    kind: str  # anonymous | forged | key | user | scim
    tenant: str = ""
    scope: str = ""
    role: str = ""
    csrf: bool = True

    def role_on_project(self) -> str | None:
        """The effective role on P: the org role in A (owners own every project), or the project role."""
        return self.role if self.kind == "user" and self.tenant in ("A", "project") else None

    def role_in_org(self) -> str | None:
        return self.role if self.kind == "user" and self.tenant == "A" else None


PRINCIPALS: Final = (
    Who("anonymous", "anonymous"),
    Who("forged key", "forged"),
    Who("forged session", "forged"),
    *(
        Who(f"{t} {s} key", "key", t, scope=s)
        for t in ("same", "sibling", "other_org")
        for s in ("ingest", "read", "admin")
    ),
    *(Who(f"{o} {r}", "user", o, role=r) for o in ("A", "B") for r in ("owner", "admin", "member", "viewer")),
    Who("project-only admin", "user", "project", role="admin"),
    Who("A owner without CSRF token", "user", "A", role="owner", csrf=False),
    Who("SCIM token A", "scim", "A"),
    Who("SCIM token B", "scim", "B"),
)


def _unauthenticated(who: Who) -> bool:
    """No credentials this server accepts outside /scim/v2: nothing, a forged key, a SCIM token."""
    return who.kind in ("anonymous", "forged", "scim")


def _cross_site(who: Who, method: str) -> bool:
    """A state-changing call authenticated by a session cookie without the session's CSRF token: 403."""
    return who.kind == "user" and not who.csrf and method not in ("GET", "HEAD", "OPTIONS")


class Rule:
    """Who may call a route: `expect(who, method)` is ALLOWED or the status of the refusal."""

    def expect(self, who: Who, method: str) -> int:
        raise NotImplementedError


@dataclass(frozen=True)
class Public(Rule):
    """Anyone, signed in or not (login, password reset, invitations, health, docs pages). `session`: the
    route acts on the caller's session when there is one (logout, accepting as the signed-in user)."""

    session: bool = False

    def expect(self, who: Who, method: str) -> int:
        return 403 if self.session and _cross_site(who, method) else ALLOWED


@dataclass(frozen=True)
class SignedIn(Rule):
    """Any signed-in user, about their own account; keys are not users."""

    def expect(self, who: Who, method: str) -> int:
        if who.kind != "user":
            return 401
        return 403 if _cross_site(who, method) else ALLOWED


@dataclass(frozen=True)
class KeyOrUser(Rule):
    """Any key (its own project) or user (what they have a role on): a listing of the caller's own."""

    def expect(self, who: Who, method: str) -> int:
        return ALLOWED if who.kind in ("key", "user") else 401


@dataclass(frozen=True)
class OrgOwner(Rule):
    """A user who owns an organisation (any); a key is refused."""

    def expect(self, who: Who, method: str) -> int:
        if _unauthenticated(who):
            return 401
        if who.kind == "key" or _cross_site(who, method):
            return 403
        return ALLOWED if who.tenant in ("A", "B") and who.role == "owner" else 403


@dataclass(frozen=True)
class Project(Rule):
    """An action on project P (from the path). A user needs a role on P whose docs row allows `user`
    (no role at all: 404); `user=None` means users cannot call it at all (the route reads only keys: 401).
    A key must be P's and its scope must allow `key` (else 403)."""

    user: str | None
    key: str

    def expect(self, who: Who, method: str) -> int:
        if _unauthenticated(who):
            return 401
        if who.kind == "key":
            return ALLOWED if who.tenant == "same" and self.key in SCOPE_RIGHTS[who.scope] else 403
        if self.user is None:
            return 401
        if _cross_site(who, method):
            return 403
        role = who.role_on_project()
        if role is None:
            return 404
        return ALLOWED if ROLE_RIGHTS[role][self.user] else 403


def project(action: str, user: str | None = "", key: str = "") -> Project:
    """`action` for users and keys alike, unless `user` or `key` says otherwise."""
    return Project(action if user == "" else user, key or action)


@dataclass(frozen=True)
class OwnSavedView(Rule):
    """One of the caller's saved views on P (per user: the probe's id is nobody's), so every signed-in user gets
    404, as do users of another project or org; keys have no user (403)."""

    def expect(self, who: Who, method: str) -> int:
        if _unauthenticated(who):
            return 401
        if who.kind == "key" or _cross_site(who, method):
            return 403
        return 404


USER_ONLY: Final = "a user's own"  # an action no key scope lists: keys get 403 on the route


@dataclass(frozen=True)
class Org(Rule):
    """An action on org A (from the path): users by their org role in A (none: 404); keys never (403)."""

    action: str

    def expect(self, who: Who, method: str) -> int:
        if _unauthenticated(who):
            return 401
        if who.kind == "key" or _cross_site(who, method):
            return 403
        role = who.role_in_org()
        if role is None:
            return 404
        return ALLOWED if ROLE_RIGHTS[role][self.action] else 403


@dataclass(frozen=True)
class OwnKeyProject(Rule):
    """Ingest and Langfuse routes without a project in the path: any key, acting on its own project, if its
    scope allows `action` (None: any scope). Users cannot call them (401)."""

    action: str | None

    def expect(self, who: Who, method: str) -> int:
        if who.kind != "key":
            return 401
        return ALLOWED if self.action is None or self.action in SCOPE_RIGHTS[who.scope] else 403


@dataclass(frozen=True)
class Scim(Rule):
    """/scim/v2: only an org's SCIM token, acting in its own org; another org's resource id answers 404."""

    by_id: bool = False

    def expect(self, who: Who, method: str) -> int:
        if who.kind != "scim":
            return 401
        return 404 if self.by_id and who.tenant == "B" else ALLOWED


Body = Any  # a JSON value, or a callable World -> JSON value


@dataclass(frozen=True)
class Row:
    """A route's rule and its probe. `ids` names, for a path parameter, the World attribute (or `pool:NAME`)
    holding its value; `before`/`after` name World methods run around every cell (recreating what an
    allowed call used up); `consumes` names the pool an allowed (2xx) answer used up."""

    rule: Rule
    json: Body = None
    params: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    basic: bool = False  # keys send Langfuse's Basic project_id:key
    before: str | None = None
    after: str | None = None
    consumes: str | None = None
    last: bool = False  # ends the callers' sessions: run after every other row


PROBE_RULE: Final = {"name": "matrix", "metric": "span_count", "comparison": "gt", "threshold": 1, "window_s": 60}
# disabled (no scheduled runs), a global address the matrix's server cannot reach, a short timeout: a run fails fast
PROBE_MONITOR: Final = {
    "name": "matrix", "enabled": False, "timeout_s": 0.5, "target": {"type": "http", "url": "http://8.8.8.8:9/"},
}  # fmt: skip
PRICE: Final = {"model": "matrix-model", "input_per_mtok": 1.0, "output_per_mtok": 2.0}
WEAK = "short"
SCIM_PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _scim_user(world: Any) -> dict[str, Any]:
    return {"userName": world.unique_email(), "active": True}


def _scim_group(world: Any) -> dict[str, Any]:
    return {"displayName": world.unique_name(), "members": []}


def _rename(attr: str) -> dict[str, Any]:
    return {"schemas": [SCIM_PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": attr}]}


PA = "/api/projects/{project_id}"  # the project admin API
PD = "/v1/projects/{project_id}"  # the project data API
OA = "/api/orgs/{org_id}"
SC = "/scim/v2"
OTLP = ("/v1/traces", "/v1/logs", "/v1/metrics", "/api/public/otel/v1/traces", "/api/public/otel/v1/logs",
        "/api/public/otel/v1/metrics", "/v1/trace/log", "/v1/trace/log-python")  # fmt: skip

TABLE: Final[dict[tuple[str, str], Row]] = {
    # --- public: accounts, invitations, health and documents -------------------------------------------
    ("POST", "/api/auth/login"): Row(Public(), json=lambda w: {"email": w.login_email, "password": w.password}),
    ("GET", "/api/auth/oidc"): Row(Public()),
    ("GET", "/api/auth/oidc/login"): Row(Public(), params={"next": "/ui/"}),
    ("GET", "/api/auth/oidc/callback"): Row(Public()),  # without state: 400, to anyone
    ("POST", "/api/auth/password/forgot"): Row(Public(), json={"email": "nobody@example.test"}),
    ("POST", "/api/auth/password/reset"): Row(Public(), json={"token": "lxr_unknown", "password": WEAK}),
    ("POST", "/api/invitations/lookup"): Row(Public(), json=lambda w: {"token": w.lookup_token}),
    # a 400: accepting would add the caller to org A
    ("POST", "/api/invitations/accept"): Row(Public(session=True), json={"token": 5}),
    ("GET", "/healthz"): Row(Public()),
    ("GET", "/readyz"): Row(Public()),
    ("GET", "/openapi.json"): Row(Public()),
    ("GET", "/v1/version"): Row(Public()),
    ("GET", "/invite"): Row(Public()),
    ("GET", "/reset-password"): Row(Public()),
    ("POST", "/api/auth/logout"): Row(Public(session=True), last=True),
    # --- one's own account, listings of one's own ----------------------------------------------------
    ("GET", "/api/auth/me"): Row(SignedIn()),
    ("POST", "/api/auth/password"): Row(SignedIn(), json={"current_password": "x", "new_password": WEAK}),
    ("GET", "/api/projects"): Row(KeyOrUser()),
    ("POST", "/api/orgs"): Row(OrgOwner(), json={"name": "matrix org"}),
    ("GET", "/v1/cluster"): Row(OrgOwner()),  # {"enabled": false}: the matrix's server is no cluster node
    ("GET", "/v1/plugins"): Row(OrgOwner()),
    ("GET", "/v1/platform-alerts"): Row(OrgOwner()),
    ("GET", "/metrics"): Row(Public()),  # [metrics] allow = "loopback": the matrix calls from 127.0.0.1
    ("POST", "/api/projects"): Row(Org("org.projects.create"), json=lambda w: {"name": "matrix", "org_id": w.org}),
    # --- project admin API ---------------------------------------------------------------------------
    ("GET", f"{PA}/alerts/channel-types"): Row(project("alerts.read")),
    ("GET", f"{PA}/alerts/deliveries"): Row(project("alerts.read")),
    ("GET", f"{PA}/alerts/firings"): Row(project("alerts.read")),
    ("GET", f"{PA}/alerts/rules"): Row(project("alerts.read")),
    ("POST", f"{PA}/alerts/rules"): Row(project("alerts.manage"), json=PROBE_RULE),
    ("GET", f"{PA}/alerts/rules/{{rule_id}}"): Row(project("alerts.read")),
    ("PATCH", f"{PA}/alerts/rules/{{rule_id}}"): Row(project("alerts.manage"), json={"threshold": 2}),
    ("DELETE", f"{PA}/alerts/rules/{{rule_id}}"): Row(
        project("alerts.manage"), ids={"rule_id": "pool:rule"}, consumes="rule"
    ),
    ("POST", f"{PA}/alerts/rules/{{rule_id}}/test"): Row(project("alerts.manage")),  # no channels: 400
    ("GET", f"{PA}/monitors"): Row(project("alerts.read")),
    ("POST", f"{PA}/monitors"): Row(project("alerts.manage"), json=PROBE_MONITOR),  # 201, then 409 name_taken
    ("GET", f"{PA}/monitors/{{monitor_id}}"): Row(project("alerts.read")),
    ("PATCH", f"{PA}/monitors/{{monitor_id}}"): Row(project("alerts.manage"), json={"timeout_s": 0.4}),
    ("DELETE", f"{PA}/monitors/{{monitor_id}}"): Row(
        project("alerts.manage"), ids={"monitor_id": "pool:monitor"}, consumes="monitor"
    ),
    ("POST", f"{PA}/monitors/{{monitor_id}}/run"): Row(project("alerts.manage")),  # unreachable target: a failed run
    ("GET", f"{PA}/monitors/{{monitor_id}}/runs"): Row(project("alerts.read")),
    ("GET", f"{PA}/audit"): Row(project("audit.read")),
    ("GET", f"{PA}/jwt-trust"): Row(project("keys.read")),
    ("PUT", f"{PA}/jwt-trust"): Row(project("keys.manage"), json={"issuer": "matrix"}),  # no key: 400
    ("DELETE", f"{PA}/jwt-trust"): Row(project("keys.manage")),
    ("GET", f"{PA}/plugins"): Row(project("settings.read")),
    # no plugin of that name on the matrix's server: 400; a reset of nothing: 204
    ("PUT", f"{PA}/plugins/{{name}}"): Row(project("settings.manage"), json={"enabled": True}),
    ("DELETE", f"{PA}/plugins/{{name}}"): Row(project("settings.manage")),
    ("GET", f"{PA}/views"): Row(project("data.read", key=USER_ONLY)),
    ("POST", f"{PA}/views"): Row(
        project("data.read", key=USER_ONLY), json={"name": "matrix", "page": "traces", "query": "status=error"}
    ),
    ("DELETE", f"{PA}/views/{{view_id}}"): Row(OwnSavedView(), ids={"view_id": "probe_view_id"}),
    ("GET", f"{PA}/dashboard"): Row(project("data.read")),
    ("PUT", f"{PA}/dashboard"): Row(project("data.annotate", key="settings.manage"), json={"charts": []}),
    ("GET", f"{PA}/keys"): Row(project("keys.read")),
    ("POST", f"{PA}/keys"): Row(project("keys.manage"), json={"scope": "read", "name": "matrix"}),
    ("DELETE", f"{PA}/keys/{{key_id}}"): Row(project("keys.manage"), ids={"key_id": "pool:key"}, consumes="key"),
    ("GET", f"{PA}/members"): Row(project("members.read")),
    ("POST", f"{PA}/members"): Row(project("members.manage"), json=lambda w: {"user_id": w.t_proj, "role": "viewer"}),
    ("PATCH", f"{PA}/members/{{user_id}}"): Row(
        project("members.manage"), json={"role": "viewer"}, ids={"user_id": "t_proj"}, before="ensure_project_role"
    ),
    ("DELETE", f"{PA}/members/{{user_id}}"): Row(
        project("members.manage"), ids={"user_id": "t_proj"}, before="ensure_project_role"
    ),
    ("GET", f"{PA}/settings"): Row(project("settings.read")),
    ("PATCH", f"{PA}/settings"): Row(project("settings.manage"), json={"retention_days": 0}),
    ("GET", f"{PA}/usage"): Row(project("usage.read")),
    # --- project data API ----------------------------------------------------------------------------
    ("POST", f"{PD}/events"): Row(project("data.ingest", user=None), json={"events": [{"trace_id": "matrix"}]}),
    ("GET", f"{PD}/export"): Row(project("data.read"), params={"format": "jsonl"}),
    ("GET", f"{PD}/export/traces"): Row(project("data.read"), params={"format": "csv"}),
    ("GET", f"{PD}/attribute-keys"): Row(project("data.read")),
    ("GET", f"{PD}/metrics"): Row(project("data.read")),
    ("GET", f"{PD}/prices"): Row(project("settings.read")),
    ("PUT", f"{PD}/prices"): Row(project("settings.manage"), json={"prices": [PRICE]}),
    ("DELETE", f"{PD}/prices"): Row(
        project("settings.manage"), params={"model": PRICE["model"]}, before="ensure_price"
    ),
    ("GET", f"{PD}/prompts"): Row(project("data.read")),
    ("POST", f"{PD}/prompts"): Row(
        project("data.annotate", key="data.ingest"), json=lambda w: {**w.prompt_body, "version": "1"}
    ),
    ("GET", f"{PD}/prompts/{{name}}/versions"): Row(project("data.read")),
    ("POST", f"{PD}/reprice"): Row(
        project("settings.manage"), json={"from": "2001-01-01T00:00:00Z", "to": "2001-01-02T00:00:00Z"}
    ),
    ("GET", f"{PD}/scores"): Row(project("data.read")),
    ("POST", f"{PD}/scores"): Row(project("data.annotate", key="data.ingest"), json={"scores": []}),
    ("GET", f"{PD}/sessions"): Row(project("data.read")),
    ("DELETE", f"{PD}/sessions/{{session_id}}"): Row(project("settings.manage"), ids={"session_id": "doomed_session"}),
    ("GET", f"{PD}/spans"): Row(project("data.read")),
    ("GET", f"{PD}/traces"): Row(project("data.read")),
    ("GET", f"{PD}/trace-facets"): Row(project("data.read")),
    ("GET", f"{PD}/traces/{{trace_id}}"): Row(project("data.read")),
    ("DELETE", f"{PD}/traces/{{trace_id}}"): Row(project("settings.manage"), ids={"trace_id": "doomed_trace"}),
    ("GET", f"{PD}/traces/{{trace_id}}/outline"): Row(project("data.read")),
    ("GET", f"{PD}/traces/{{trace_id}}/spans/{{span_id}}"): Row(project("data.read")),
    ("GET", f"{PD}/users"): Row(project("data.read")),
    ("DELETE", f"{PD}/users/{{user_id}}"): Row(project("settings.manage"), ids={"user_id": "doomed_user"}),
    # --- ingest and Langfuse routes: the project is the key's ----------------------------------------
    **{("POST", path): Row(OwnKeyProject("data.ingest"), json={}) for path in OTLP},
    ("GET", "/api/public/projects"): Row(OwnKeyProject(None), basic=True),
    ("POST", "/api/public/ingestion"): Row(OwnKeyProject("data.ingest"), json={"batch": []}, basic=True),
    ("POST", "/api/public/scores"): Row(OwnKeyProject("data.ingest"), json=[], basic=True),
    # --- org admin API -------------------------------------------------------------------------------
    ("GET", f"{OA}/audit"): Row(Org("org.audit.read")),
    ("GET", f"{OA}/invitations"): Row(Org("org.invite")),
    ("POST", f"{OA}/invitations"): Row(Org("org.invite"), json={"role": "viewer"}),
    ("DELETE", f"{OA}/invitations/{{invitation_id}}"): Row(
        Org("org.invite"), ids={"invitation_id": "pool:invitation"}, consumes="invitation"
    ),
    ("GET", f"{OA}/members"): Row(Org("org.members.read")),
    # names a member of A: 409 now, and still 409 once adding becomes inviting
    ("POST", f"{OA}/members"): Row(
        Org("org.members.manage"), json=lambda w: {"email": w.t_org_email, "role": "viewer"}
    ),
    ("PATCH", f"{OA}/members/{{user_id}}"): Row(
        Org("org.members.manage"), json={"role": "viewer"}, ids={"user_id": "t_org"}
    ),
    ("DELETE", f"{OA}/members/{{user_id}}"): Row(
        Org("org.members.manage"), ids={"user_id": "pool:member"}, consumes="member"
    ),
    ("POST", f"{OA}/members/{{user_id}}/password-reset"): Row(Org("org.password_reset"), ids={"user_id": "t_org"}),
    ("POST", f"{OA}/scim-token"): Row(Org("org.scim.manage"), after="keep_scim_token"),
    ("DELETE", f"{OA}/scim-token"): Row(Org("org.scim.manage"), before="ensure_scim_token", after="keep_scim_token"),
    # --- SCIM ----------------------------------------------------------------------------------------
    ("GET", f"{SC}/ServiceProviderConfig"): Row(Scim()),
    ("GET", f"{SC}/ResourceTypes"): Row(Scim()),
    ("GET", f"{SC}/Users"): Row(Scim()),
    ("POST", f"{SC}/Users"): Row(Scim(), json=_scim_user),
    ("GET", f"{SC}/Users/{{id}}"): Row(Scim(by_id=True), ids={"id": "scim_user"}),
    ("PUT", f"{SC}/Users/{{id}}"): Row(
        Scim(by_id=True), json=lambda w: {"userName": w.scim_user_email, "active": True}, ids={"id": "scim_user"}
    ),
    ("PATCH", f"{SC}/Users/{{id}}"): Row(Scim(by_id=True), json=_rename("Matrix"), ids={"id": "scim_user"}),
    ("DELETE", f"{SC}/Users/{{id}}"): Row(Scim(by_id=True), ids={"id": "pool:scim_user"}, consumes="scim_user"),
    ("GET", f"{SC}/Groups"): Row(Scim()),
    ("POST", f"{SC}/Groups"): Row(Scim(), json=_scim_group),
    ("GET", f"{SC}/Groups/{{id}}"): Row(Scim(by_id=True), ids={"id": "scim_group"}),
    ("PUT", f"{SC}/Groups/{{id}}"): Row(
        Scim(by_id=True), json=lambda w: {"displayName": w.scim_group_name, "members": []}, ids={"id": "scim_group"}
    ),
    ("PATCH", f"{SC}/Groups/{{id}}"): Row(
        Scim(by_id=True), json=lambda w: _rename(w.scim_group_name), ids={"id": "scim_group"}
    ),
    ("DELETE", f"{SC}/Groups/{{id}}"): Row(Scim(by_id=True), ids={"id": "pool:scim_group"}, consumes="scim_group"),
}


def body_of(row: Row, world: Any) -> Any:
    return row.json(world) if callable(row.json) else row.json


def ordered() -> list[tuple[tuple[str, str], Row]]:
    """The rows in the order they run: those that end sessions last."""
    return sorted(TABLE.items(), key=lambda item: item[1].last)

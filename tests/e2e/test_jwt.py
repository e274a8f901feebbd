"""JWTs for server-to-server ingest, end to end: a project trusts an issuer (`PUT /api/projects/{pid}/jwt-trust`),
and a token that issuer signs is accepted wherever an ingest key of the project is: native events, OTLP/HTTP and
OTLP/gRPC. Refused tokens answer 401 (UNAUTHENTICATED over gRPC); a token of another project 403, as that project's
key would. The JWKS is served by a real HTTP server on 127.0.0.1 (the server is told loopback is an allowed
outbound address, as an operator would with `[alerts] allow_private_targets`)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from tests.e2e.accounts import Browsers
from tests.e2e.jwt_issuer import JwksServer, SigningKey, claims
from tests.e2e.server import RunningServer
from tests.e2e.test_otlp import otlp_json, wait_trace
from tests.e2e.test_otlp_grpc import spans_request

ISSUER, AUDIENCE = "https://issuer.example", "lynex-ingest"
MIN_REFETCH_S = 5.0


@dataclass
class World:
    server: RunningServer
    web: Browsers

    def trust_url(self, project: str) -> str:
        return f"{self.server.url}/api/projects/{project}/jwt-trust"

    def events(self, project: str) -> str:
        return f"{self.server.url}/v1/projects/{project}/events"

    def put_trust(self, project: str, **doc: object) -> httpx.Response:
        body = {"issuer": ISSUER, "audience": AUDIENCE, **doc}
        return httpx.put(self.trust_url(project), json=body, headers=self.server.headers(), timeout=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    env = {"LYNEX_ALERTS_ALLOW_PRIVATE_TARGETS": "true", "LYNEX_AUTH_JWT_JWKS_MIN_REFETCH_S": str(MIN_REFETCH_S)}
    server = RunningServer(tmp_path_factory.mktemp("jwt") / "data", env=env, otlp_grpc=True).start()
    web = Browsers(server)
    try:
        yield World(server, web)
    finally:
        web.close()
        server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def send_event(world: World, project: str, token: str, trace_id: str = "jwt-trace") -> httpx.Response:
    event = {"trace_id": trace_id, "name": "from a service", "model": "gpt-4o-mini", "usage": {"input_tokens": 10}}
    return httpx.post(world.events(project), json={"events": [event]}, headers=bearer(token), timeout=30)


def test_a_token_of_the_trusted_key_ingests_events_otlp_and_grpc(world: World) -> None:
    server, key = world.server, SigningKey.generate("ec", "svc-1")
    put = world.put_trust(server.project, public_key_pem=key.public_pem())
    assert put.status_code == 200, put.text
    assert put.json()["trust"]["issuer"] == ISSUER and put.json()["trust"]["project_claim"] == "project_id"
    token = key.sign(claims(ISSUER, AUDIENCE, server.project))

    sent = send_event(world, server.project, token, trace_id="jwt-native")
    assert sent.status_code == 202 and sent.json()["accepted"] == 1, sent.text
    [span] = wait_trace(server, "jwt-native")["spans"]
    assert (span["name"], span["model"], span["input_tokens"], span["source"]) == (
        "from a service",
        "gpt-4o-mini",
        10,
        "sdk",
    )

    otlp_trace = os.urandom(16).hex()
    headers = {**bearer(token), "Content-Type": "application/json"}
    body = otlp_json(otlp_trace, [(os.urandom(8).hex(), "over otlp/http")])
    assert httpx.post(f"{server.url}/v1/traces", content=body, headers=headers, timeout=30).status_code == 200
    assert wait_trace(server, otlp_trace)["spans"][0]["name"] == "over otlp/http"

    grpc_trace = os.urandom(16)
    with grpc.insecure_channel(server.grpc_target) as channel:
        request = spans_request(grpc_trace, (os.urandom(8), "over otlp/grpc"))
        TraceServiceStub(channel).Export(request, metadata=(("authorization", f"Bearer {token}"),), timeout=30)
    assert wait_trace(server, grpc_trace.hex())["spans"][0]["name"] == "over otlp/grpc"

    # ingest only: the same token reads nothing
    read = httpx.get(f"{server.url}/v1/projects/{server.project}/traces", headers=bearer(token), timeout=30)
    assert read.status_code == 401 and "ingest routes only" in read.json()["error"]["message"]


def test_expired_forged_and_misaddressed_tokens_are_refused_with_401(world: World) -> None:
    server, key = world.server, SigningKey.generate("ed25519", "svc-2")
    assert world.put_trust(server.project, public_key_pem=key.public_pem()).status_code == 200
    project = server.project
    assert send_event(world, project, key.sign(claims(ISSUER, AUDIENCE, project))).status_code == 202
    refusals = {
        "expired": key.sign(claims(ISSUER, AUDIENCE, project, ttl_s=-120)),
        "not signed by a key of an issuer trusted": SigningKey.generate("ed25519", "svc-2").sign(
            claims(ISSUER, AUDIENCE, project)
        ),
        "aud is not": key.sign(claims(ISSUER, "another-audience", project)),
        "not signed by a key": key.sign(claims("https://another-issuer", AUDIENCE, project)),
    }
    for reason, token in refusals.items():
        r = send_event(world, project, token)
        assert r.status_code == 401 and reason in r.json()["error"]["message"], (reason, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
    with grpc.insecure_channel(server.grpc_target) as channel, pytest.raises(grpc.RpcError) as caught:
        TraceServiceStub(channel).Export(
            spans_request(os.urandom(16), (os.urandom(8), "x")),
            metadata=(("authorization", f"Bearer {refusals['expired']}"),),
            timeout=30,
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED and "expired" in caught.value.details()


def test_a_token_naming_another_project_is_refused_like_that_projects_key(world: World) -> None:
    """A token for project Q sent to P's path: 403, as Q's API key gets. A token naming a project that does not
    trust the issuer: 401. OTLP has no project in its path: Q's token writes to Q."""
    server, key = world.server, SigningKey.generate("rsa", "svc-3")
    admin = world.web.admin()
    created = admin.post("/api/projects", json={"name": "jwt second"})
    assert created.status_code == 201, created.text
    second = created.json()["project_id"]
    trusted = admin.put(
        f"/api/projects/{second}/jwt-trust",
        json={"public_key_pem": key.public_pem(), "issuer": ISSUER, "audience": AUDIENCE, "project_claim": "tenant"},
    )
    assert trusted.status_code == 200, trusted.text
    for_second = key.sign(claims(ISSUER, AUDIENCE, "-", tenant=second))
    r = send_event(world, server.project, for_second)
    assert r.status_code == 403 and r.json()["error"]["message"] == "this API key does not belong to that project"
    assert send_event(world, second, for_second).status_code == 202
    trace = os.urandom(16).hex()
    headers = {**bearer(for_second), "Content-Type": "application/json"}
    body = otlp_json(trace, [(os.urandom(8).hex(), "into the second project")])
    assert httpx.post(f"{server.url}/v1/traces", content=body, headers=headers, timeout=30).status_code == 200
    deadline = time.monotonic() + 20
    while (found := admin.get(f"/v1/projects/{second}/traces/{trace}")).status_code != 200:
        assert time.monotonic() < deadline, found.text
        time.sleep(0.1)
    untrusted = key.sign(claims(ISSUER, AUDIENCE, "-", tenant=server.project))  # P names no "tenant" claim
    assert send_event(world, server.project, untrusted).status_code == 401


def test_a_rotated_jwks_key_is_fetched_on_its_first_token_and_refetches_are_rate_limited(world: World) -> None:
    server = world.server
    old, new, unknown = (SigningKey.generate("rsa", kid) for kid in ("rot-1", "rot-2", "rot-3"))
    with JwksServer([old]) as jwks:
        put = world.put_trust(server.project, jwks_url=jwks.url)
        put_at = time.monotonic()
        assert put.status_code == 200, put.text
        assert jwks.fetches == 1  # checked (and cached) when set
        assert send_event(world, server.project, old.sign(claims(ISSUER, AUDIENCE, server.project))).status_code == 202
        jwks.serve(old, new)
        early = send_event(world, server.project, new.sign(claims(ISSUER, AUDIENCE, server.project)))
        if time.monotonic() - put_at < MIN_REFETCH_S - 0.5:  # (on a slow machine the interval may already be over)
            assert early.status_code == 401 and "not signed by a key" in early.json()["error"]["message"]
            assert jwks.fetches == 1
        time.sleep(max(0.0, put_at + MIN_REFETCH_S + 0.5 - time.monotonic()))
        r = send_event(world, server.project, new.sign(claims(ISSUER, AUDIENCE, server.project)))
        assert r.status_code == 202, r.text
        assert jwks.fetches == 2
        for _ in range(3):
            r = send_event(world, server.project, unknown.sign(claims(ISSUER, AUDIENCE, server.project)))
            assert r.status_code == 401
        assert jwks.fetches == 2  # a forged key id does not make the server fetch again within the interval


def test_trust_settings_are_checked_audited_and_removable(world: World) -> None:
    server, key = world.server, SigningKey.generate("ec", "svc-5")
    refused = world.put_trust(server.project, jwks_url="http://169.254.169.254/latest/meta-data/")
    assert refused.status_code == 400 and "link-local" in refused.json()["error"]["message"]
    pem = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"
    private = world.put_trust(server.project, public_key_pem=pem)
    assert private.status_code == 400 and "private key" in private.json()["error"]["message"]
    assert world.put_trust(server.project, public_key_pem=key.public_pem()).status_code == 200
    got = httpx.get(world.trust_url(server.project), headers=server.headers(), timeout=30).json()["trust"]
    assert got["public_key_pem"] == key.public_pem() and got["jwks_url"] is None
    token = key.sign(claims(ISSUER, AUDIENCE, server.project))
    assert send_event(world, server.project, token).status_code == 202
    assert httpx.delete(world.trust_url(server.project), headers=server.headers(), timeout=30).status_code == 204
    assert httpx.get(world.trust_url(server.project), headers=server.headers(), timeout=30).json() == {"trust": None}
    assert send_event(world, server.project, token).status_code == 401
    audit = httpx.get(f"{server.url}/api/projects/{server.project}/audit", headers=server.headers(), timeout=30).json()[
        "items"
    ]
    assert [e["action"] for e in audit[:2]] == ["jwt_trust.deleted", "jwt_trust.set"]

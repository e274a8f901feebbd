"""The usage-export plugin in a real Lynex Box server (bucket on the real moto S3 server): spans of two projects
sent timestamped yesterday, a grace delay that ends a few seconds into the test; when the day closes the plugin
POSTs each project's usage, signed, to a real webhook receiver (which fails the first attempt: retried), writes one
CSV for the day into the bucket with a row per project, and sends Stripe meter events to a Stripe-shaped server
started here that checks the bearer key and the form fields."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from lynex_box.objstore import ObjectNotFound, S3Store
from tests.alerts.receiver import Receiver
from tests.e2e.accounts import Browsers, wait_for_trace
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer, bucket, moto_server  # noqa: F401 - fixtures used here

CLOSE_AFTER_S = 30  # the day closes this long after the test starts: time to start the server and send spans
STRIPE_KEY = "sk_test_usage_export"
FIELDS = {"event_name", "payload[stripe_customer_id]", "payload[value]", "identifier", "timestamp"}


class StripeShaped:
    """`POST /v1/billing/meter_events` as Stripe answers it: 401 without the bearer key, 400 without a field."""

    def __init__(self) -> None:
        self.events: list[dict[str, str]] = []
        self.refused: list[tuple[int, str]] = []
        stripe = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(body, strict_parsing=True).items()}
                if self.path != "/v1/billing/meter_events":
                    code, answer = 404, b'{"error": {"message": "Unrecognized request URL"}}'
                elif self.headers.get("Authorization") != f"Bearer {STRIPE_KEY}":
                    code, answer = 401, b'{"error": {"message": "Invalid API Key provided"}}'
                elif self.headers.get("Content-Type") != "application/x-www-form-urlencoded" or set(form) != FIELDS:
                    code, answer = 400, b'{"error": {"message": "Missing or unknown parameter"}}'
                else:
                    code, answer = 200, b'{"object": "billing.meter_event"}'
                    stripe.events.append(form)
                if code != 200:
                    stripe.refused.append((code, body))
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def stripe() -> Iterator[StripeShaped]:
    s = StripeShaped()
    yield s
    s.close()


def _wait(what: str, check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


def _llm(trace: str, day: str, tokens: int, cost: float, **more: Any) -> dict[str, Any]:
    return {"trace_id": trace, "type": "llm", "start_time": f"{day}T12:00:00Z", "model": "m",
            "usage": {"input_tokens": tokens, "output_tokens": 1}, "cost": {"total": cost}, **more}  # fmt: skip


def test_a_closed_day_goes_to_the_webhook_the_bucket_csv_and_stripe(
    tmp_path: Path,
    moto_server: MotoServer,  # noqa: F811
    bucket: str,  # noqa: F811
    receiver: Receiver,
    stripe: StripeShaped,
) -> None:
    data = tmp_path / "data"
    env = {
        "LYNEX_BUCKET_TYPE": "s3", "LYNEX_BUCKET_BUCKET": bucket, "LYNEX_BUCKET_ENDPOINT": moto_server.endpoint,
        "LYNEX_BUCKET_PREFIX": "deploy", "LYNEX_BUCKET_ACCESS_KEY_ID": "testing",
        "LYNEX_BUCKET_SECRET_ACCESS_KEY": "testing", "LYNEX_BUCKET_ALLOW_HTTP": "true",
    }  # fmt: skip
    config = tmp_path / "lynex.toml"
    config.write_text("")
    server = RunningServer(data, env={**env, "LYNEX_CONFIG": str(config)})
    # the customers map needs the project ids, known once the server created them: the first start writes them
    server.start()
    web = Browsers(server)
    try:
        admin = web.admin()
        r = admin.post("/api/projects", json={"name": "second"})
        assert r.status_code == 201, r.text
        second = r.json()["project_id"]
        r = admin.post(f"/api/projects/{second}/keys", json={"scope": "ingest", "name": "k"})
        second_key = r.json()["api_key"]
    finally:
        web.close()
    server.stop()
    first = server.project
    now = dt.datetime.now(dt.UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day = (midnight - dt.timedelta(days=1)).date().isoformat()
    delay_s = (now - midnight).total_seconds() + CLOSE_AFTER_S
    config.write_text(f"""
[alerts]
allowed_target_networks = "127.0.0.1/32"
[plugins]
enabled = ["usage-export"]
usage_close_delay_s = {delay_s}
usage_close_check_s = 0.5
[plugins.usage-export]
backoff_s = 0.2
[plugins.usage-export.webhook]
url = "{receiver.url}/flaky/1"
secret = "s3cret"
[plugins.usage-export.csv]
prefix = "usage"
[plugins.usage-export.stripe]
api_key = "{STRIPE_KEY}"
api_base = "{stripe.url}"
customers = {{ "{first}" = "cus_first" }}
meters = {{ tokens = "lynex_tokens", cost_cents = "lynex_cost", errors = "lynex_errors" }}
""")
    server.start()
    try:
        for project, key, events in [
            (first, server.creds["api_key"], [_llm("a1", day, 100, 0.125), _llm("a2", day, 50, 0.5, status="error")]),
            (second, second_key, [_llm("b1", day, 7, 0.0)]),
        ]:
            url = f"{server.url}/v1/projects/{project}/events"
            assert httpx.post(url, json={"events": events}, headers=server.headers(key)).status_code == 202
        wait_for_trace(server, first, server.creds["api_key"], "a2")
        # the webhook: one signed POST per project, the first attempt answered 500 and retried
        hooks = _wait("two webhook deliveries", lambda: len(receiver.on("/flaky/1")) >= 3 and receiver.on("/flaky/1"),
                      CLOSE_AFTER_S + 60)  # fmt: skip
        delivered = {}
        for got in hooks:
            body = got.json()
            mac = hmac.new(b"s3cret", got.headers["x-lynex-timestamp"].encode() + b"." + got.body, hashlib.sha256)
            assert got.headers["x-lynex-signature"] == f"sha256={mac.hexdigest()}"
            assert got.headers["x-lynex-delivery"] == f"usage:{body['event']['project_id']}:{day}"
            delivered[body["event"]["project_id"]] = body["event"]
        assert set(delivered) == {first, second}
        a = delivered[first]
        assert (a["day"], a["spans"], a["llm_calls"], a["errors"], a["input_tokens"]) == (day, 2, 2, 1, 150)
        assert a["cost_usd"] == pytest.approx(0.625)
        # Stripe: the first project only (the second has no customer); tokens, cost in cents, errors
        _wait("three meter events", lambda: len(stripe.events) >= 3, 30)
        assert stripe.refused == []
        forms = {f["event_name"]: f for f in stripe.events}
        assert {n: f["payload[value]"] for n, f in forms.items()} == {
            "lynex_tokens": "152", "lynex_cost": "63", "lynex_errors": "1"
        }  # fmt: skip
        tokens = forms["lynex_tokens"]
        assert tokens["payload[stripe_customer_id]"] == "cus_first"
        assert tokens["identifier"] == f"lynex:{first}:{day}:tokens"
        end = int((midnight).timestamp())
        assert tokens["timestamp"] == str(end - 1)
        # the bucket: one CSV for the day, under the bucket prefix and the plugin's namespace, a row per project
        store = S3Store(moto_server.settings(bucket, prefix="deploy"))
        key = f"plugins/usage-export/usage/{day[:4]}/{day[5:7]}/{day[8:]}.csv"

        def csv_rows() -> list[dict[str, str]] | None:
            try:
                rows = list(csv.DictReader(io.StringIO(store.get(key).data.decode())))
            except ObjectNotFound:
                return None
            return rows if len(rows) == 2 else None

        rows = _wait("the day's CSV with two rows", csv_rows, 30)
        assert [r["project_id"] for r in rows] == sorted([first, second])
        by_project = {r["project_id"]: r for r in rows}
        assert (by_project[first]["day"], by_project[first]["total_tokens"]) == (day, "152")
        assert by_project[second]["spans"] == "1"
        # nothing left pending in the outbox, nothing given up
        assert _wait("an empty outbox", lambda: not list((data / "plugins/usage-export/outbox").glob("*.json")), 10)
        assert not list((data / "plugins/usage-export/failed").glob("*.json"))
    finally:
        server.stop()

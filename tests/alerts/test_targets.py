"""Where notifications may go: the address policy, the check when a rule is saved, and the check at delivery.

Delivery tests use a real meta.db and a real receiver on 127.0.0.1, with a resolver that answers what DNS would
(no real DNS) and a transport that records every request and refuses to send one anywhere but 127.0.0.1: a
refused target must be refused before anything connects, and no test ever sends traffic off the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from lynex_box.alerts import history, store
from lynex_box.alerts.delivery import Deliverer
from lynex_box.alerts.payloads import Notification
from lynex_box.alerts.rules import RuleError, RuleLimits, parse_rule
from lynex_box.alerts.sealing import SecretBox
from lynex_box.alerts.targets import TargetPolicy, check_names, leads_to, parse_networks
from lynex_box.auth.bootstrap import bootstrap_if_empty
from lynex_box.config import AlertsSettings, ConfigError
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB
from tests.alerts.channel_types import CHANNELS
from tests.alerts.receiver import REDIRECT_BODY, Receiver

DEFAULT = TargetPolicy()
LOOPBACK_ONLY = TargetPolicy(allowed=parse_networks("127.0.0.1/32"))
BLOCKED = [
    "100.100.100.200",  # Alibaba Cloud metadata, carrier-grade NAT space
    "100.64.0.1",
    "100.127.255.254",
    "169.254.169.254",  # AWS, GCP, Azure metadata
    "169.254.170.2",
    "fe80::1",
    "fd00:ec2::254",  # AWS metadata over IPv6 (unique local)
    "127.0.0.1",
    "127.0.0.2",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:100.100.100.200",
    "::169.254.169.254",  # IPv4-compatible
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "0.0.0.0",
    "0.1.2.3",
    "::",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "192.0.0.170",
    "198.18.0.1",
    "192.0.2.1",
    "240.0.0.1",
    "255.255.255.255",
    "224.0.0.1",
    "ff02::1",
    "2001:db8::1",
]


@pytest.mark.parametrize("address", BLOCKED)
def test_every_non_global_address_is_refused_by_default(address: str) -> None:
    assert DEFAULT.refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_global_addresses_are_allowed(address: str) -> None:
    assert DEFAULT.refusal(address) is None


def test_the_refusal_names_the_class_and_the_setting_that_would_open_it() -> None:
    assert "carrier-grade NAT" in str(DEFAULT.refusal("100.100.100.200"))
    assert "link-local" in str(DEFAULT.refusal("169.254.169.254"))
    assert "loopback" in str(DEFAULT.refusal("::ffff:127.0.0.1"))
    assert "allow_private_targets" in str(DEFAULT.refusal("10.1.2.3"))
    assert "allow_private_targets" not in str(DEFAULT.refusal("169.254.169.254"))  # that switch never opens it
    assert "never" in str(TargetPolicy(True, parse_networks("0.0.0.0/0")).refusal("0.0.0.0"))


def test_allowing_loopback_opens_loopback_and_nothing_else() -> None:
    assert LOOPBACK_ONLY.refusal("127.0.0.1") is None
    assert LOOPBACK_ONLY.refusal("::ffff:127.0.0.1") is None  # the same address, another spelling
    refused = [a for a in BLOCKED if LOOPBACK_ONLY.refusal(a) is not None]
    assert refused == [a for a in BLOCKED if leads_to(ipaddress.ip_address(a)) != ipaddress.ip_address("127.0.0.1")]


def test_allow_private_targets_opens_private_networks_but_never_metadata_or_cgnat() -> None:
    private = TargetPolicy(allow_private=True)
    for address in ("127.0.0.1", "::1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "fd00::1"):
        assert private.refusal(address) is None, address
    for address in ("169.254.169.254", "fe80::1", "100.100.100.200", "100.64.0.1", "0.0.0.0", "::", "198.18.0.1"):
        assert private.refusal(address) is not None, address


def test_allowed_networks_are_checked_when_loaded() -> None:
    assert parse_networks(" 10.20.0.0/16, ,fd00::/8 ") == (
        ipaddress.ip_network("10.20.0.0/16"),
        ipaddress.ip_network("fd00::/8"),
    )
    with pytest.raises(ConfigError, match=r"alerts\.allowed_target_networks entry '10\.0\.0\.1/8'"):
        parse_networks("10.0.0.1/8")
    with pytest.raises(ConfigError, match="'intranet'"):
        TargetPolicy.from_settings(AlertsSettings(allowed_target_networks="intranet"))


@pytest.mark.parametrize(
    "url",
    [
        "http://100.100.100.200/latest/meta-data/",
        "http://100.64.1.2/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:8080/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[fe80::1%25eth0]/",
        "http://0.0.0.0:8080/",
        "http://[::]/",
        "http://2130706433/",  # 127.0.0.1 in decimal
        "http://1684301000/",  # 100.100.100.200 in decimal
        "http://0x7f.1/",
        "http://127.1/",
        "http://localhost./",
        "http://api.localhost/",
    ],
)
def test_a_rule_naming_a_refused_address_is_not_saved(url: str) -> None:
    doc = {"name": "x", "metric": "span_count", "comparison": "gt", "threshold": 1, "window_s": 60}
    with pytest.raises(RuleError, match=r"channels\[0\]\.url: host .* refused"):
        parse_rule(doc | {"channels": [{"type": "webhook", "url": url}]}, RuleLimits(channels=CHANNELS))


def test_a_host_name_that_resolves_to_a_refused_address_is_named_before_saving() -> None:
    answers = {"metadata.example": ["100.100.100.200"], "mixed.example": ["93.184.215.14", "169.254.169.254"]}
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in answers:
            raise OSError("Name or service not known")
        return answers[host]

    urls = [
        ("channels[0]", "https://metadata.example/hook"),
        ("channels[1]", "https://mixed.example/hook"),
        ("channels[2]", "https://unknown.example/hook"),  # does not resolve now: delivery will judge it
        ("channels[3]", "https://93.184.215.14/hook"),
    ]
    refused = asyncio.run(check_names(urls, DEFAULT, resolve))
    assert [r.split(":")[0] for r in refused] == ["channels[0].url", "channels[1].url"]
    assert "carrier-grade NAT" in refused[0] and "link-local" in refused[1]
    assert asked == ["metadata.example", "mixed.example", "unknown.example"]  # a literal address is not resolved


# --- delivery --------------------------------------------------------------------------------------------------


@dataclass
class Recorder(httpx.AsyncBaseTransport):
    """A real transport that records each request and refuses any that would leave 127.0.0.1."""

    sent: list[httpx.Request] = field(default_factory=list)
    inner: httpx.AsyncHTTPTransport = field(default_factory=httpx.AsyncHTTPTransport)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        assert request.url.host == "127.0.0.1", f"a test tried to connect to {request.url.host}"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class World:
    db: MetaDB
    box: SecretBox
    project: str
    receiver: Receiver


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    db = MetaDB(tmp_path / "meta.db")
    boot = bootstrap_if_empty(db)
    assert boot is not None
    receiver = Receiver().start()
    try:
        yield World(db, SecretBox(b"k" * 32), boot.project_id, receiver)
    finally:
        receiver.stop()
        db.close()


def deliver(
    w: World, url: str, policy: TargetPolicy, resolve: Any = None, attempts: int = 1, channels: Any = CHANNELS
) -> tuple[dict[str, Any], Recorder]:
    """One delivery of a test notification to `url`; the delivery record and the requests that were sent."""
    limits = RuleLimits(
        targets=TargetPolicy(allowed=parse_networks("0.0.0.0/0, ::/0")), channels=CHANNELS
    )  # the store's check
    doc = {"name": "x", "metric": "span_count", "comparison": "gt", "threshold": 1, "window_s": 60}
    spec = parse_rule(doc | {"channels": [{"type": "webhook", "url": url}]}, limits)
    actor = Actor("system", "test", "test")
    rule = w.db.write(lambda c: store.create_rule(c, w.box, w.project, spec, actor, 100))
    [channel] = store.open_channels(rule, w.box)
    note = Notification("test", rule.as_dict(), None, None, store.now_us(), "")
    recorder = Recorder()
    settings = AlertsSettings(delivery_backoff_s=0.01, delivery_timeout_s=10.0)

    async def run() -> dict[str, Any]:
        kwargs = {"resolve": resolve} if resolve is not None else {}
        deliverer = Deliverer(w.db, w.box, settings, policy=policy, transport=recorder, channels=channels, **kwargs)
        try:
            return await deliverer.deliver(rule, note, channel, attempts)
        finally:
            await deliverer.close()

    result = asyncio.run(run())
    [stored] = history.list_deliveries(w.db.reader(), w.project, rule.id, None, None, 10)
    assert stored["last_error"] == result["error"]
    return result, recorder


@pytest.mark.parametrize(
    "url",
    [
        "http://100.100.100.200/latest/meta-data/",
        "http://100.64.7.7:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:9/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://2130706433:9/",
    ],
)
def test_a_refused_address_is_refused_at_delivery_before_anything_connects(world: World, url: str) -> None:
    result, recorder = deliver(world, url, DEFAULT, attempts=3)
    assert (result["status"], result["response_status"]) == ("failed", None)
    assert "may not reach" in result["error"] and url not in result["error"]
    assert recorder.sent == []


def test_a_channel_whose_type_is_not_loaded_fails_for_good_naming_the_plugin_setting(world: World) -> None:
    """A rule outlives its channel plugin (uninstalled, or left out of [plugins] builtin_channels): its deliveries
    fail at once, recorded with the reason, and nothing is sent."""
    url = f"{world.receiver.url}/hook"
    result, recorder = deliver(world, url, LOOPBACK_ONLY, attempts=3, channels={})
    assert result["status"] == "failed" and "'webhook' is not loaded" in result["error"], result
    assert "builtin_channels" in result["error"] and recorder.sent == [] and world.receiver.received == []


def test_a_channel_type_that_raises_fails_its_delivery_without_showing_its_secrets(world: World) -> None:
    class Leaky:
        name, fields, secret_fields, url_fields = "webhook", ("url",), ("url",), ("url",)

        async def send(self, config: Any, notice: Any, out: Any) -> Any:
            if notice.event == "test":
                raise ValueError(config["url"])

    url = f"{world.receiver.url}/hook/token-0123456789"
    result, _ = deliver(world, url, LOOPBACK_ONLY, attempts=3, channels={"webhook": Leaky()})
    assert result["status"] == "failed" and result["error"] == "the channel type raised ValueError", result
    assert "token-0123456789" not in str(
        history.list_deliveries(world.db.reader(), world.project, None, None, None, 10)
    )


def test_a_name_resolving_to_a_refused_address_is_refused_at_delivery(world: World) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return {"metadata.example": ["100.100.100.200"], "both.example": ["127.0.0.1", "169.254.169.254"]}[host]

    for host in ("metadata.example", "both.example"):
        url = f"http://{host}:{world.receiver.server.server_address[1]}/hook"
        result, recorder = deliver(world, url, LOOPBACK_ONLY, resolve)
        assert result["status"] == "failed" and "resolves to an address that" in result["error"], result
        assert recorder.sent == []
    assert world.receiver.received == []


def test_a_delivery_connects_to_the_address_it_checked_not_to_a_second_answer(world: World) -> None:
    """DNS rebinding: the name answers a permitted address once, then the metadata address; the request goes to
    the checked address with the name in Host, and the next delivery's check sees the new answer and refuses."""
    answers = iter([["127.0.0.1"], ["169.254.169.254"], ["169.254.169.254"]])
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    port = world.receiver.server.server_address[1]
    result, recorder = deliver(world, f"http://hooks.rebind.example:{port}/hook/rebind", LOOPBACK_ONLY, resolve)
    assert result["status"] == "delivered" and asked == ["hooks.rebind.example"]
    [request] = recorder.sent
    assert (request.url.host, request.headers["host"]) == ("127.0.0.1", f"hooks.rebind.example:{port}")
    [received] = world.receiver.on("/hook/rebind")
    assert received.headers["host"] == f"hooks.rebind.example:{port}"

    result, recorder = deliver(world, f"http://hooks.rebind.example:{port}/hook/rebind", LOOPBACK_ONLY, resolve)
    assert result["status"] == "failed" and "link-local" in result["error"] and recorder.sent == []
    assert len(world.receiver.on("/hook/rebind")) == 1


def test_tls_keeps_the_name_for_sni_and_certificate_checks() -> None:
    from lynex_box.alerts.targets import pin

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]

    pinned = asyncio.run(pin("https://Hooks.Example.com/services/x?y=1", DEFAULT, resolve))
    assert str(pinned.url) == "https://93.184.215.14/services/x?y=1"
    assert (pinned.host_header, pinned.extensions) == ("hooks.example.com", {"sni_hostname": "hooks.example.com"})
    assert pinned.public


def test_a_redirect_is_not_followed_and_its_body_is_not_stored(world: World) -> None:
    url = f"{world.receiver.url}/redirect/x"
    result, recorder = deliver(world, url, LOOPBACK_ONLY, attempts=3)
    assert (result["status"], result["response_status"]) == ("failed", 302)
    assert result["error"].startswith("HTTP 302: redirects are not followed")
    assert REDIRECT_BODY.decode() not in result["error"]
    assert [str(r.url) for r in recorder.sent] == [url]  # once: not followed, not retried


def test_no_response_body_is_stored_from_a_non_global_address(world: World) -> None:
    result, _ = deliver(world, f"{world.receiver.url}/status/404/x", LOOPBACK_ONLY)
    assert (result["status"], result["response_status"], result["error"]) == ("failed", 404, "HTTP 404")

"""The real server, with the default `[alerts]` settings, refuses webhook URLs that lead off the public internet.

No request is ever sent: every URL here is refused when the rule is saved (`400 bad_rule`), literal addresses and
host names alike (a name is resolved by the server through the machine's own resolver: /etc/hosts and numeric
forms, no DNS needed). What happens at delivery is tested in test_targets.py.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer

RULE = {"name": "x", "metric": "span_count", "comparison": "gt", "threshold": 1, "window_s": 60}
REFUSED = [
    "http://100.100.100.200/latest/meta-data/",
    "http://100.64.0.1/",
    "http://100.127.1.2:8080/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:127.0.0.1]:4318/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://127.0.0.1:4318/",
    "http://0.0.0.0:4318/",
    "http://[::]:4318/",
    "http://10.1.2.3/",
    "http://2130706433:4318/",  # 127.0.0.1 spelt as one number: a host name to a URL parser
    "http://1684301000/",  # 100.100.100.200 likewise
    "http://localhost./",
]


@dataclass
class Server:
    server: RunningServer
    web: Browsers
    admin: httpx.Client

    @property
    def rules(self) -> str:
        return f"/api/projects/{self.server.project}/alerts/rules"


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = RunningServer(tmp_path_factory.mktemp("targets") / "data").start()
    web = Browsers(server)
    try:
        yield Server(server, web, web.admin())
    finally:
        web.close()
        server.stop()


def _refused(r: httpx.Response) -> str:
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_rule", r.text
    message: str = r.json()["error"]["message"]
    assert (message.startswith("channels[0].url") and "may not reach" in message) or "never reach" in message
    return message


@pytest.mark.parametrize("url", REFUSED)
def test_a_webhook_to_a_non_global_address_is_refused_when_saved(s: Server, url: str) -> None:
    _refused(s.admin.post(s.rules, json=RULE | {"channels": [{"type": "webhook", "url": url}]}))


def test_the_refusal_names_the_class_of_address(s: Server) -> None:
    r = s.admin.post(s.rules, json=RULE | {"channels": [{"type": "slack", "url": "http://1684301000/x"}]})
    assert "carrier-grade NAT" in _refused(r)


def test_a_host_name_resolving_to_a_non_global_address_is_refused_when_saved(s: Server) -> None:
    name = socket.gethostname()
    try:
        resolved = {str(i[4][0]) for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve here")
    if all(ipaddress.ip_address(a.split("%", 1)[0]).is_global for a in resolved):
        pytest.skip(f"this machine's name {name!r} resolves to global addresses only: {resolved}")
    message = _refused(s.admin.post(s.rules, json=RULE | {"channels": [{"type": "webhook", "url": f"http://{name}/"}]}))
    assert "host name resolves to an address that" in message


def test_changing_a_rule_to_a_refused_url_is_refused_and_keeps_the_old_channel(s: Server) -> None:
    created = s.admin.post(s.rules, json=RULE | {"channels": [{"type": "webhook", "url": "https://93.184.215.14/h"}]})
    assert created.status_code == 201, created.text
    rule = created.json()
    for url in ("http://169.254.169.254/", "http://2130706433/", "http://localhost./"):
        _refused(s.admin.patch(f"{s.rules}/{rule['id']}", json={"channels": [{"type": "webhook", "url": url}]}))
    assert s.admin.get(f"{s.rules}/{rule['id']}").json()["channels"] == rule["channels"]

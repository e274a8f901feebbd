"""Which addresses a notification may reach, and the one resolution that pins a delivery to a checked address.

A webhook or Slack URL comes from a project admin, so without a check the appliance could be made to call its own
internal services or a cloud metadata endpoint (169.254.169.254; Alibaba Cloud's 100.100.100.200) and show the
answer. The rule: only global addresses (`ipaddress`'s `is_global`) may be reached. An address that carries an
IPv4 address inside IPv6 (`::ffff:a.b.c.d`, `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the
IPv4 address it leads to. An operator may open more: `[alerts] allow_private_targets` opens loopback and the
private networks (10/8, 172.16/12, 192.168/16, fc00::/7) and nothing else; `[alerts] allowed_target_networks`
opens the networks it lists. The unspecified address (0.0.0.0, which reaches the machine itself), multicast and
broadcast are never reachable.

A host name is resolved once per attempt; every address it resolves to must pass, and the request then goes to
the first of them, by address (the name stays in `Host` and in TLS SNI, and certificates are verified against
it). So a name that resolves to a public address when checked and to an internal one a moment later (DNS
rebinding) cannot redirect the delivery. Nothing here ever connects; `Resolver` is injectable for tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final

import httpx

from lynex_box.config import AlertsSettings, ConfigError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

PRIVATE_NETWORKS: Final[tuple[Network, ...]] = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_THIS_NETWORK: Final = ipaddress.ip_network("0.0.0.0/8")
_BROADCAST: Final = ipaddress.ip_address("255.255.255.255")
_CGNAT: Final = ipaddress.ip_network("100.64.0.0/10")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE: Final = ipaddress.ip_network("::/96")
RESOLVE_TIMEOUT_S: Final = 5.0


class TargetRefused(Exception):
    """The URL's host is, or resolves to, an address notifications may not reach; the message says which class."""


class TargetUnresolved(Exception):
    """The URL's host name did not resolve now (may be temporary: a delivery retries)."""


def parse_address(host: str) -> Address | None:
    """The address a URL host spells, including the legacy IPv4 forms (`127.1`, `2130706433`, `0x7f.0.0.1`) that
    `getaddrinfo` accepts; None for a host name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if not host or not all(c.isalnum() or c == "." for c in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def leads_to(ip: Address) -> Address:
    """The address a connection to `ip` reaches: the IPv4 address inside a mapped, compatible, NAT64 or 6to4
    IPv6 address, else `ip` itself."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def describe(ip: Address) -> str:
    """The class of a non-global address, as an operator would name it."""
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "an unspecified (this-host) address"
    if ip.is_multicast or ip == _BROADCAST:
        return "a multicast or broadcast address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer, e.g. 169.254.169.254)"
    if ip in _CGNAT:
        return "a shared carrier-grade NAT address (100.64.0.0/10; Alibaba Cloud's metadata is 100.100.100.200)"
    if any(ip in n for n in PRIVATE_NETWORKS):
        return "a private-network address"
    return "a reserved or special-purpose address (not a global one)"


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Which addresses notifications may reach: global ones, plus what the operator opened."""

    allow_private: bool = False
    allowed: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: AlertsSettings) -> TargetPolicy:
        """From `[alerts]`; a ConfigError naming `alerts.allowed_target_networks` and the bad entry."""
        return cls(settings.allow_private_targets, parse_networks(settings.allowed_target_networks))

    def refusal(self, address: str | Address) -> str | None:
        """None when a delivery may connect to `address`; else why not, with a hint for the operator."""
        parsed = parse_address(address) if isinstance(address, str) else address
        if parsed is None:
            return f"{address!r} is not an IP address"
        ip = leads_to(parsed)
        if ip != parsed:
            address = f"{address} (which leads to {ip})"
        if ip.is_unspecified or ip in _THIS_NETWORK or ip.is_multicast or ip == _BROADCAST:
            return f"{address} is {describe(ip)}, which notifications never reach"
        if ip.is_global or any(ip in n for n in self.allowed):
            return None
        private = any(ip in n for n in PRIVATE_NETWORKS)
        if self.allow_private and private:
            return None
        how = "[alerts] allow_private_targets = true or " if private else ""
        return (
            f"{address} is {describe(ip)}, which notifications may not reach; hint: an operator can allow it with "
            f"{how}[alerts] allowed_target_networks"
        )


def parse_networks(text: str) -> tuple[Network, ...]:
    """`"10.1.0.0/16, 127.0.0.1/32"` as networks; a ConfigError naming the entry that is not one."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ConfigError(
                f"alerts.allowed_target_networks entry {item!r} is not a network ({exc}); "
                "hint: write CIDR blocks separated by commas, e.g. 127.0.0.1/32, 10.20.0.0/16"
            ) from None
    return tuple(out)


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order, without repeats."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_checked(host: str, port: int, policy: TargetPolicy, resolve: Resolver) -> str:
    """The address to connect to for `host`: a literal as it is, a name resolved once. Raises TargetRefused when
    any address is refused, TargetUnresolved when the name does not resolve (within `RESOLVE_TIMEOUT_S`)."""
    literal = parse_address(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await asyncio.wait_for(resolve(host, port), RESOLVE_TIMEOUT_S)
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise TargetUnresolved(f"cannot resolve the URL's host: {exc or type(exc).__name__}") from None
        if not addresses:
            raise TargetUnresolved("the URL's host resolves to no address")
    for address in addresses:
        reason = policy.refusal(address)
        if reason is not None:
            where = "the URL's host" if literal is not None else "the URL's host name resolves to an address that"
            raise TargetRefused(f"{where}: {reason}")
    return addresses[0]


@dataclass(frozen=True, slots=True)
class Pinned:
    """A request to send: to `url` (the checked address in place of the name), with the name kept for `Host`
    and TLS (`extensions` carries `sni_hostname`, which is also what the certificate is verified against)."""

    url: httpx.URL
    host_header: str
    extensions: dict[str, str]
    address: str

    @property
    def public(self) -> bool:
        """Whether the address is a global one (a response body is kept only from those)."""
        return leads_to(ipaddress.ip_address(self.address)).is_global


async def pin(url: str, policy: TargetPolicy, resolve: Resolver) -> Pinned:
    """Check `url`'s host as httpx parses it (so no parser difference can send the request elsewhere) and pin it."""
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded, without brackets
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    address = await resolve_checked(host, port, policy, resolve)
    extensions = {"sni_hostname": host} if parse_address(host) is None and parsed.scheme == "https" else {}
    return Pinned(parsed.copy_with(host=address), parsed.netloc.decode("ascii"), extensions, address)


async def check_names(urls: Iterable[tuple[str, str]], policy: TargetPolicy, resolve: Resolver) -> list[str]:
    """Refusals (`"<where>.url: <reason>"`) of the URLs whose host is or resolves to a refused address.

    A name that does not resolve now is let through: the check before each delivery will judge it then.
    """
    refused = []
    for where, url in urls:
        try:
            parsed = httpx.URL(url)
            host = parsed.raw_host.decode("ascii")
        except (httpx.InvalidURL, UnicodeError):
            continue  # the rule's own validation names a bad URL
        if not host:
            continue
        try:
            await resolve_checked(host, parsed.port or (443 if parsed.scheme == "https" else 80), policy, resolve)
        except TargetRefused as exc:
            refused.append(f"{where}.url: {exc}")
        except TargetUnresolved:
            continue
    return refused

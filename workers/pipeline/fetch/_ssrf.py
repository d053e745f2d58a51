"""SSRF protection: which addresses the fetcher may connect to.

A host is refused when it is, or resolves to, a loopback, private, link-local,
multicast, reserved, shared (CGNAT) or cloud-metadata address, unless the
allow-list names the host itself or a range holding the address.

Two places enforce it, together covering every connection the fetcher makes:

* :meth:`AddressPolicy.check_literal` for URLs whose host is an IP address
  (aiohttp connects to those without asking a resolver), called before each
  request, redirect hops included;
* :class:`GuardedResolver`, the resolver of the fetcher's connector, which
  checks every address a name resolves to *before* aiohttp connects to it.  The
  connector connects only to addresses the resolver returned, so a DNS answer
  cannot change between the check and the connect (no rebinding window).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from workers.errors import BlockedAddress

__all__ = ["AddressPolicy", "GuardedResolver", "blocked_reason"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance-metadata endpoints of cloud providers (AWS, GCP, Azure, OpenStack:
# 169.254.169.254; AWS ECS: 169.254.170.2; AWS IPv6: fd00:ec2::254;
# Alibaba: 100.100.100.200).  All are non-global anyway; named for the message.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200",
))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_VERDICT_CACHE_SIZE = 4096
_UNKNOWN: Any = object()


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be fetched from, or None if it is a public address."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return blocked_reason(embedded)
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT), documentation ranges
        return "reserved"
    return None


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0].strip("[]"))
    except ValueError:
        return None


class AddressPolicy:
    """The allow-list plus the rules above.  Entries: host names, IPs or CIDR ranges."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self._hosts: set[str] = set()
        self._networks: list[IPNetwork] = []
        # (host, address) -> None (allowed) or the reason it is blocked; the policy never changes.
        self._verdicts: dict[tuple[str, str], str | None] = {}
        for entry in allow:
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self._hosts.add(entry.rstrip("."))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self._hosts

    def address_allowed(self, ip: IPAddress) -> bool:
        candidates = [ip]
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            candidates.append(embedded)
        return any(c.version == net.version and c in net for c in candidates for net in self._networks)

    def check_address(self, host: str, address: str) -> None:
        """Raise :class:`BlockedAddress` unless ``host`` may be reached at ``address``."""
        key = (host, address)
        problem = self._verdicts.get(key, _UNKNOWN)
        if problem is _UNKNOWN:
            problem = self._judge(host, address)
            if len(self._verdicts) >= _VERDICT_CACHE_SIZE:
                self._verdicts.clear()  # crude bound; refilling is cheap
            self._verdicts[key] = problem
        if problem is not None:
            raise BlockedAddress(str(problem))

    def _judge(self, host: str, address: str) -> str | None:
        if self.host_allowed(host):
            return None
        ip = _parse_ip(address)
        if ip is None:
            return f"{host}: unparseable address {address!r}"
        if self.address_allowed(ip):
            return None
        reason = blocked_reason(ip)
        if reason is None:
            return None
        shown = host if host == address else f"{host} -> {address}"
        return f"{shown} is a {reason} address"

    def check_literal(self, host: str) -> None:
        """Check a URL host that is an IP literal; host names are left to the resolver."""
        if ":" not in host and not host[-1:].isdigit():
            return  # a name (IPv4 literals end in a digit, IPv6 ones hold a colon)
        ip = _parse_ip(host)
        if ip is not None:
            self.check_address(host, str(ip))


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses blocked addresses.

    All addresses must pass: an answer mixing public and private addresses is
    refused whole rather than trimmed, as it is what a rebinding attack sends.
    """

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            self._policy.check_address(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()

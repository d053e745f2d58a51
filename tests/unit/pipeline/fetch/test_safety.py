"""SSRF protection of the fetch stage.

Nothing here ever connects to anything but loopback: blocked targets are
refused before connecting, and ``loopback_only_connections`` fails the test if
a connection to any other address were even attempted.  Host names are
resolved by a fake resolver, never by DNS.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from tests.unit._httpserver import LocalServer, loopback_only_connections
from workers.errors import BlockedAddress, ConnectionFailed, InvalidURL
from workers.pipeline.fetch import FetchConfig, Fetcher
from workers.pipeline.fetch._ssrf import AddressPolicy, blocked_reason

pytestmark = pytest.mark.timeout(20)

CONFIG = FetchConfig(allow_hosts=("127.0.0.1",), backoff_s=0.001, backoff_max_s=0.01, respect_robots=False,
                     connect_timeout_s=2.0, read_timeout_s=2.0, total_timeout_s=5.0)


class FakeResolver(AbstractResolver):
    """Resolves names from a table, like a DNS server an attacker controls."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"no such host {host}")
        return [
            {"hostname": host, "host": addr, "port": port, "proto": 0, "flags": socket.AI_NUMERICHOST,
             "family": socket.AF_INET6 if ":" in addr else socket.AF_INET}
            for addr in self.table[host]
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
async def server():
    with loopback_only_connections() as attempted:
        async with LocalServer() as srv:
            srv.html("/", "<html>ok</html>")
            yield srv
    assert all(ipaddress.ip_address(a).is_loopback for a in attempted), attempted


@pytest.mark.parametrize("target", [
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://192.168.1.1:8080/admin",
    "http://[::ffff:10.0.0.1]/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://0.0.0.0/",
])
async def test_redirect_to_private_address_is_blocked_before_connecting(server, target):
    server.route("/go", lambda r: web.Response(status=302, headers={"Location": target}))
    async with Fetcher(CONFIG) as f:
        with pytest.raises(BlockedAddress) as info:
            await f.fetch(server.url("/go"))
    assert info.value.error_code == "blocked_address"
    assert server.hits["/go"] == 1


async def test_loopback_is_blocked_by_default(server):
    async with Fetcher(dataclasses.replace(CONFIG, allow_hosts=())) as f:
        with pytest.raises(BlockedAddress) as info:
            await f.fetch(server.url("/"))
    assert "loopback" in str(info.value)
    assert not server.requests


async def test_allow_list_accepts_cidr(server):
    async with Fetcher(dataclasses.replace(CONFIG, allow_hosts=("127.0.0.0/8",))) as f:
        page = await f.fetch(server.url("/"))
    assert page.status == 200


async def test_host_name_is_checked_on_the_resolved_address(server):
    """news.example resolves to a loopback address the allow-list does not hold."""
    resolver = FakeResolver({"news.example": ["127.0.0.2"]})
    async with Fetcher(CONFIG, resolver=resolver) as f:
        with pytest.raises(BlockedAddress) as info:
            await f.fetch(f"http://news.example:{server.port}/")
    assert "127.0.0.2" in str(info.value)
    assert resolver.asked == ["news.example"]
    assert not server.requests


async def test_mixed_dns_answer_is_refused_whole(server):
    resolver = FakeResolver({"rebind.example": ["127.0.0.1", "127.0.0.3"]})
    async with Fetcher(CONFIG, resolver=resolver) as f:
        with pytest.raises(BlockedAddress):
            await f.fetch(f"http://rebind.example:{server.port}/")
    assert not server.requests


async def test_host_name_resolving_to_allowed_address_is_fetched(server):
    resolver = FakeResolver({"news.example": ["127.0.0.1"]})
    async with Fetcher(CONFIG, resolver=resolver) as f:
        page = await f.fetch(f"http://news.example:{server.port}/")
    assert page.status == 200
    assert server.requests[-1].host.startswith("news.example")


async def test_allow_listed_host_name_is_not_blocked(server):
    """demo.local resolves to 127.0.0.5, not allow-listed by address but by name.
    Nothing listens there (the server binds 127.0.0.1), so the connection is
    refused: a connection_error, not blocked_address."""
    resolver = FakeResolver({"demo.local": ["127.0.0.5"]})
    config = dataclasses.replace(CONFIG, allow_hosts=("demo.local",), max_attempts=1)
    async with Fetcher(config, resolver=resolver) as f:
        with pytest.raises(ConnectionFailed):
            await f.fetch(f"http://demo.local:{server.port}/")


async def test_redirect_to_host_name_resolving_to_metadata_is_blocked(server):
    resolver = FakeResolver({"evil.example": ["169.254.169.254"]})
    server.route("/go", lambda r: web.Response(status=301, headers={"Location": "http://evil.example/"}))
    async with Fetcher(CONFIG, resolver=resolver) as f:
        with pytest.raises(BlockedAddress) as info:
            await f.fetch(server.url("/go"))
    assert "cloud metadata" in str(info.value)


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
    ("192.168.0.1", "private"), ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("169.254.169.254", "cloud metadata"),
    ("100.64.0.1", "reserved"), ("0.0.0.0", "unspecified"), ("::ffff:192.168.0.1", "private"),
    ("64:ff9b::a00:1", "private"), ("2002:c0a8:0001::1", "private"), ("fc00::1", "private"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"),
])
def test_blocked_reasons(address, reason):
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert blocked_reason(ipaddress.ip_address(address)) is None
    AddressPolicy().check_address("example.com", address)


def test_allow_list_entries_hosts_ips_and_ranges():
    policy = AddressPolicy(["localhost", "127.0.0.1", "::1", "10.0.0.0/8", " ", "Demo.Local."])
    policy.check_address("localhost", "127.0.0.7")  # host name allowed
    policy.check_address("demo.local", "192.168.1.1")
    policy.check_address("x", "127.0.0.1")
    policy.check_address("x", "::1")
    policy.check_address("x", "10.200.0.1")
    policy.check_address("x", "::ffff:10.0.0.1")  # IPv4-mapped form of an allowed address
    with pytest.raises(BlockedAddress):
        policy.check_address("x", "127.0.0.2")
    with pytest.raises(BlockedAddress):
        policy.check_address("x", "169.254.169.254")


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f000001", "127.1", "[::1]", "[::ffff:127.0.0.1]"])
async def test_loopback_in_disguise_is_blocked_by_the_system_resolver(server, host):
    """Numeric and named forms of loopback go through the real resolver (no DNS
    traffic: getaddrinfo answers them locally) and are refused before connecting."""
    async with Fetcher(dataclasses.replace(CONFIG, allow_hosts=(), max_attempts=1)) as f:
        with pytest.raises((BlockedAddress, InvalidURL)):
            await f.fetch(f"http://{host}:{server.port}/")
    assert not server.requests


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0x7f.1", "0177.0.0.1", "0x7f000001"])
async def test_numeric_loopback_hosts_are_read_as_the_address_and_blocked(server, host):
    """Browsers read these hosts as 127.0.0.1: so does newswire, and the address policy refuses it
    (blocked_address, not invalid_url); nothing is connected to."""
    async with Fetcher(dataclasses.replace(CONFIG, allow_hosts=(), max_attempts=1)) as f:
        with pytest.raises(BlockedAddress) as info:
            await f.fetch(f"http://{host}:{server.port}/")
    assert info.value.error_code == "blocked_address"
    assert "127.0.0.1" in info.value.detail
    assert not server.requests


async def test_numeric_host_allowed_by_the_policy_is_fetched_in_dotted_form(server):
    """The resolver never sees the numeric form (it would resolve it itself, unchecked by newswire's reading)."""
    resolver = FakeResolver({})
    async with Fetcher(dataclasses.replace(CONFIG, allow_hosts=("127.0.0.1",), max_attempts=1),
                       resolver=resolver) as f:
        page = await f.fetch(f"http://2130706433:{server.port}/")
    assert page.final_url == f"http://127.0.0.1:{server.port}/"
    assert server.requests
    assert "2130706433" not in resolver.asked

"""The fetch stage reads the HTML body of a 403/503 and calls an anti-bot interstitial bot_challenge."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.pipeline.fetch.test_client import fetcher, sequence, server  # noqa: F401  (fixture)
from workers.errors import BotChallenge, HTTPStatusError

pytestmark = pytest.mark.timeout(20)

PAGES = Path(__file__).resolve().parents[3] / "fixtures" / "pagekinds"
HTML = {"Content-Type": "text/html; charset=utf-8"}


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


async def test_a_403_challenge_is_bot_challenge(server):  # noqa: F811
    server.route("/wall", sequence((403, HTML, page("challenge-cloudflare-managed.html"))))
    async with fetcher() as f:
        with pytest.raises(BotChallenge) as info:
            await f.fetch(server.url("/wall"))
    assert info.value.error_code == "bot_challenge" and info.value.stage == "fetch"
    assert "cloudflare" in info.value.detail and "403" in info.value.detail


async def test_a_503_challenge_is_not_retried(server):  # noqa: F811
    server.route("/iuam", sequence((503, HTML, page("challenge-cloudflare-iuam-503.html"))))
    async with fetcher(max_attempts=3) as f:
        with pytest.raises(BotChallenge):
            await f.fetch(server.url("/iuam"))
    assert server.hits["/iuam"] == 1


async def test_a_plain_403_stays_http_403(server):  # noqa: F811
    server.route("/forbidden", sequence((403, HTML, b"<html><head><title>403 Forbidden</title></head>"
                                                    b"<body><h1>403 Forbidden</h1><hr>nginx</body></html>")))
    async with fetcher() as f:
        with pytest.raises(HTTPStatusError) as info:
            await f.fetch(server.url("/forbidden"))
    assert info.value.error_code == "http_403"


async def test_a_403_body_over_the_size_limit_is_not_read_and_stays_http_403(server):  # noqa: F811
    server.route("/big", sequence((403, HTML, page("challenge-datadome.html") + b" " * 5000)))
    async with fetcher(max_bytes=1000) as f:
        with pytest.raises(HTTPStatusError) as info:
            await f.fetch(server.url("/big"))
    assert info.value.error_code == "http_403"


async def test_a_403_that_is_not_html_is_not_inspected(server):  # noqa: F811
    server.route("/json", sequence((403, {"Content-Type": "application/json"}, b'{"error": "captcha-delivery.com"}')))
    async with fetcher() as f:
        with pytest.raises(HTTPStatusError):
            await f.fetch(server.url("/json"))


async def test_a_404_body_is_not_read_as_a_challenge(server):  # noqa: F811
    server.route("/gone", sequence((404, HTML, page("challenge-akamai.html"))))
    async with fetcher() as f:
        with pytest.raises(HTTPStatusError) as info:
            await f.fetch(server.url("/gone"))
    assert info.value.error_code == "http_404"


async def test_a_200_challenge_is_fetched_as_a_page(server):  # noqa: F811
    # recognised by the CPU stages (workers.pipeline.extract.classify), not by the fetch stage
    server.route("/px", sequence((200, HTML, page("challenge-perimeterx.html"))))
    async with fetcher() as f:
        fetched = await f.fetch(server.url("/px"))
    assert fetched.status == 200


async def test_a_429_challenge_is_bot_challenge_and_a_rate_limit_page_is_retried(server):  # noqa: F811
    kasada = (b"<html><head><title></title></head><body>"
              b"<script>window.KPSDK={};KPSDK.configure([])</script>"
              b"<script src='/149e9513-01fa-4fb0-aad4-566afd725d1b/2d206a39-8ed7-437e-"
              b"a3be-862e0f06eea3/ips.js?x=1'></script></body></html>")
    server.route("/kasada", sequence((429, HTML, kasada)))
    limited = (b"<html><head><title>Access denied | ledger.example used Cloudflare to restrict access</title></head>"
               b"<body><div id='cf-error-details'><h1>Error 1015</h1><h2>You are being rate limited</h2></div>"
               b"</body></html>")
    server.route("/limited", sequence((429, HTML, limited)))
    async with fetcher(max_attempts=2) as f:
        with pytest.raises(BotChallenge):
            await f.fetch(server.url("/kasada"))
        with pytest.raises(HTTPStatusError) as info:
            await f.fetch(server.url("/limited"))
    assert server.hits["/kasada"] == 1
    assert info.value.error_code == "http_429_exhausted" and server.hits["/limited"] == 2

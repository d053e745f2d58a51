"""newswire sites: per-site outcomes read from workers' /metrics (one or several workers),
as `newswire status` reads them."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from tests.unit._httpserver import LocalServer
from workers.cli import main
from workers.cli.sites import format_table, site_outcomes
from workers.cli.status import parse_metrics
from workers.observability.metrics import Metrics, render


def worker_metrics(events: list[tuple[str, str]]) -> str:
    m = Metrics()
    for url, outcome in events:
        m.observe_outcome(url, outcome)
    return render(m).decode()


def test_outcomes_are_summed_over_workers_per_site():
    a = worker_metrics([("https://www.bbc.co.uk/1", "article")] * 3 + [("https://bbc.co.uk/2", "bot_challenge")])
    b = worker_metrics([("https://news.bbc.co.uk/3", "article"), ("https://x.example.com/1", "not_article")])
    sites = {s.site: s for s in site_outcomes([parse_metrics(a), parse_metrics(b)])}
    assert sites["bbc.co.uk"].articles == 4 and sites["bbc.co.uk"].failures == 1
    assert abs(sites["bbc.co.uk"].yield_share - 0.8) < 1e-9
    assert sites["example.com"].top_failures() == [("not_article", 1)]


def test_table_has_one_line_per_site_and_a_total():
    text = worker_metrics([("https://a.com/1", "article"), ("https://b.com/1", "js_required"),
                           ("https://b.com/2", "js_required"), ("https://b.com/3", "article")])
    table = format_table(site_outcomes([parse_metrics(text)]), sort="failures").splitlines()
    assert table[0].split()[:4] == ["site", "articles", "failed", "yield"]
    assert table[1].split() == ["b.com", "1", "2", "33.3%", "js_required", "2"]
    assert table[2].split()[:4] == ["a.com", "1", "0", "100.0%"]
    assert table[-1].split()[:4] == ["(all)", "2", "2", "50.0%"]


def worker_server(text: str) -> LocalServer:
    server = LocalServer()
    server.route("/metrics", lambda r: web.Response(text=text))
    server.route("/readyz", lambda r: web.json_response({"ready": True}))
    return server


async def test_command_sums_live_workers(capsys):
    one = worker_metrics([("https://www.lemonde.fr/a", "article"), ("https://www.lemonde.fr/b", "http_403")])
    two = worker_metrics([("https://lemonde.fr/c", "article")])
    async with worker_server(one) as a, worker_server(two) as b:
        # one worker given by its /metrics URL, the other by its web address
        code = await asyncio.to_thread(main, ["sites", "--url", a.url("/metrics"), "--url", b.url("/"), "--json"])
    assert code == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out == [{"site": "lemonde.fr", "articles": 2, "failures": 1, "yield": 0.6667,
                    "outcomes": {"article": 2, "http_403": 1}}]


def test_command_without_a_worker_says_so(capsys):
    assert main(["sites", "--url", "http://127.0.0.1:9"]) == 1
    assert "no worker answers at http://127.0.0.1:9" in capsys.readouterr().err

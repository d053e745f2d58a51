"""newswire sites: per-site outcomes read from workers' /metrics text (one or several workers)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiohttp import web

from tests.unit._httpserver import LocalServer
from workers.cli import main
from workers.metrics import Metrics, render
from workers.sitereport import format_table, site_outcomes


def worker_metrics(events: list[tuple[str, str]]) -> str:
    m = Metrics()
    for url, outcome in events:
        m.observe_outcome(url, outcome)
    return render(m).decode()


def test_outcomes_are_summed_over_workers_per_site():
    a = worker_metrics([("https://www.bbc.co.uk/1", "article")] * 3 + [("https://bbc.co.uk/2", "bot_challenge")])
    b = worker_metrics([("https://news.bbc.co.uk/3", "article"), ("https://x.example.com/1", "not_article")])
    sites = {s.site: s for s in site_outcomes([a, b])}
    assert sites["bbc.co.uk"].articles == 4 and sites["bbc.co.uk"].failures == 1
    assert sites["bbc.co.uk"].yield_share == pytest.approx(0.8)
    assert sites["example.com"].top_failures() == [("not_article", 1)]


def test_table_has_one_line_per_site_and_a_total():
    text = worker_metrics([("https://a.com/1", "article"), ("https://b.com/1", "js_required"),
                           ("https://b.com/2", "js_required"), ("https://b.com/3", "article")])
    table = format_table(site_outcomes([text]), sort="failures").splitlines()
    assert table[0].split()[:4] == ["site", "articles", "failed", "yield"]
    assert table[1].split() == ["b.com", "1", "2", "33.3%", "js_required", "2"]
    assert table[2].split()[:4] == ["a.com", "1", "0", "100.0%"]
    assert table[-1].split()[:4] == ["(all)", "2", "2", "50.0%"]


async def test_command_reads_a_live_metrics_endpoint(capsys):
    text = worker_metrics([("https://www.lemonde.fr/a", "article"), ("https://www.lemonde.fr/b", "http_403")])
    async with LocalServer() as server:
        server.route("/metrics", lambda r: web.Response(text=text))
        code = await asyncio.to_thread(main, ["sites", "--url", server.url("/metrics"), "--json"])
    assert code == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out == [{"site": "lemonde.fr", "articles": 1, "failures": 1, "yield": 0.5,
                    "outcomes": {"article": 1, "http_403": 1}}]


def test_command_without_a_worker_says_so(capsys):
    assert main(["sites", "--url", "http://127.0.0.1:9/metrics"]) == 2
    assert "cannot read http://127.0.0.1:9/metrics" in capsys.readouterr().err

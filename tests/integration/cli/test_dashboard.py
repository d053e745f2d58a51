"""The Grafana dashboard queries only what a live worker exports, and the per-site series fill in with real work."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.kafka import collect, produce, unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.cli.sites import site_outcomes
from workers.cli.status import parse_metrics
from workers.local.pages import PageServer

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "demo" / "pages"
WALL = ROOT / "tests" / "fixtures" / "pagekinds" / "challenge-cloudflare-managed.html"
DASHBOARD = ROOT / "deploy" / "kubernetes" / "monitoring" / "grafana-dashboard.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",), "info": ("_info",),
            "summary": ("", "_sum", "_count"), "unknown": ("",)}


def live_names(text: str) -> set[str]:
    """Every series name the /metrics text declares (families without samples yet included)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
        names.update(sample.name for sample in family.samples)
    return names


@pytest.fixture
def pages():
    wall = WALL.read_bytes()

    def challenge(handler) -> None:
        handler.send_response(403)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(wall)))
        handler.end_headers()
        handler.wfile.write(wall)

    with PageServer() as server:
        server.add_page("/news/harbour-bridge.html", (DEMO / "harbour-bridge.html").read_bytes())
        server.add("/news/wall.html", challenge)
        yield server


async def test_dashboard_queries_metrics_a_live_worker_exports(kafka_bootstrap, tmp_path, pages):
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_ENTITIES_ENABLED="false", NEWSWIRE_SITE_METRICS_MAX="5")
    worker = WorkerProcess(env, tmp_path).start()
    try:
        worker.wait_ready()
        urls = [pages.url("/news/harbour-bridge.html"), pages.url("/news/wall.html")]
        await produce(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], [u.encode() for u in urls])
        topics = [env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_DEADLETTER_TOPIC"]]
        found = await collect(kafka_bootstrap, topics, until=lambda f: f[topics[0]] and f[topics[1]], timeout=180)
        (letter,) = found[topics[1]]
        assert letter[1]["error"] == "bot_challenge", worker.log_tail()
        status, body = worker.get("/metrics")
        assert status == 200
        text = body.decode()
    finally:
        worker.terminate()

    exported = live_names(text)
    board = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    used = {name for q in queries for name in re.findall(r"newswire_[a-z_]+", q)}
    assert used and used <= exported, sorted(used - exported)

    # the per-site series carry this run's outcomes: the page server is 127.0.0.1, its own site
    (site,) = site_outcomes([parse_metrics(text)])
    assert site.site == "127.0.0.1" and site.outcomes == {"article": 1.0, "bot_challenge": 1.0}
    lag = [s.value for f in text_string_to_metric_families(text) for s in f.samples
           if s.name == "newswire_publish_lag_seconds_count"]
    assert lag == [1.0]  # harbour-bridge.html declares 2024-03-11T07:15:00Z

"""Per-site health metrics: registrable domains offline, a bounded label set, the publication lag."""

from __future__ import annotations

import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.processing.test_handler import FakePipeline, Outbox, handler
from workers.observability.metrics import Metrics, render
from workers.observability.sites import OTHER, SiteLabels, publish_lag_seconds, site_of


def site_series(metrics: Metrics) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(render(metrics).decode()):
        for sample in family.samples:
            if sample.name == "newswire_site_outcomes_total":
                out[(sample.labels["site"], sample.labels["outcome"])] = sample.value
    return out


@pytest.mark.parametrize("url, site", [
    ("https://www.bbc.co.uk/news/world-1", "bbc.co.uk"),
    ("https://edition.cnn.com/2024/05/14/x", "cnn.com"),
    ("http://WWW.Example.COM.:8080/a", "example.com"),
    ("https://news.sport.lemonde.fr/", "lemonde.fr"),
    ("https://foo.github.io/post", "foo.github.io"),  # a private suffix of the list: one site per user
    ("http://127.0.0.1:8000/page", "127.0.0.1"),
    ("http://localhost/x", "localhost"),
    ("not a url", "unknown"),
])
def test_site_is_the_registrable_domain(url, site):
    assert site_of(url) == site


def test_site_lookup_needs_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the public suffix list must come from the installed package")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert site_of("https://www.theguardian.co.uk/x") == "theguardian.co.uk"


def test_label_set_is_bounded_and_follows_volume():
    evicted: list[str] = []
    labels = SiteLabels(2, on_evict=evicted.append)
    assert [labels.label(s) for s in ("a.com", "b.com", "c.com")] == ["a.com", "b.com", OTHER]
    for _ in range(5):
        labels.label("a.com")
    for _ in range(3):
        assert labels.label("c.com") in ("c.com", OTHER)
    assert labels.label("c.com") == "c.com"  # 5 events against b.com's 1: it takes b.com's place
    assert evicted == ["b.com"] and labels.labelled == {"a.com", "c.com"}
    assert labels.label("b.com") == OTHER


def test_label_counts_stay_bounded():
    labels = SiteLabels(3)
    for i in range(5000):
        labels.label(f"site{i}.com")
    assert len(labels.counts) <= 1000 and len(labels.labelled) == 3


def test_metric_has_at_most_limit_sites_plus_other_and_evicted_series_go():
    m = Metrics()
    m.sites.limit = 2
    for url in ["https://a.com/1", "https://a.com/2", "https://b.com/1", "https://c.com/1", "https://d.com/1"]:
        m.observe_outcome(url, "article")
    assert {site for site, _ in site_series(m)} == {"a.com", "b.com", OTHER}
    for _ in range(4):
        m.observe_outcome("https://www.c.com/2", "bot_challenge")
    assert ("b.com", "article") not in site_series(m)
    series = site_series(m)
    assert {site for site, _ in series} == {"a.com", "c.com", OTHER}  # b.com (1 event) gave way
    assert series[("c.com", "bot_challenge")] >= 1


@pytest.mark.parametrize("published, recorded, lag", [
    ("2024-02-07T09:30:00+00:00", "2024-02-07T10:30:00.000Z", 3600.0),
    ("2024-02-07T09:30:00+01:00", "2024-02-07T09:30:00.000Z", 3600.0),
    ("2024-02-07T11:00:00+00:00", "2024-02-07T10:00:00.000Z", 0.0),  # a clock ahead counts as no lag
    ("2024-02-07", "2024-02-08T10:00:00.000Z", None),  # a date without a time is not counted
    (None, "2024-02-08T10:00:00.000Z", None),
    ("yesterday", "2024-02-08T10:00:00.000Z", None),
])
def test_publish_lag(published, recorded, lag):
    assert publish_lag_seconds(published, recorded) == lag


async def test_handler_counts_site_outcomes_and_lag():
    metrics = Metrics()
    pipeline = FakePipeline(fail={"https://www.gone.example.org/x"})
    h = handler(pipeline, metrics=metrics, site_metrics_max=10)
    await h.handle(b"https://www.bbc.co.uk/news/1", Outbox())
    await h.handle(b"https://www.gone.example.org/x", Outbox())
    series = site_series(metrics)
    assert series[("bbc.co.uk", "article")] == 1
    assert series[("example.org", "http_404")] == 1
    assert metrics.sites.limit == 10
    # make_record has no publication date: nothing in the lag histogram
    lag_count = [s.value for f in text_string_to_metric_families(render(metrics).decode())
                 for s in f.samples if s.name == "newswire_publish_lag_seconds_count"]
    assert lag_count == [0.0]

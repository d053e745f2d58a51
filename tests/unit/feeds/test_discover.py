"""Feed discovery, the feed fetcher's conditional requests, and the feeds CLI without Kafka."""

from __future__ import annotations

import argparse

import pytest

from tests.unit._httpserver import loopback_only_connections
from workers.errors import HTTPStatusError
from workers.feeds import cli as feeds_cli
from workers.feeds.discover import discover_feeds, feed_links, robots_sitemaps
from workers.feeds.fetch import FEED_ACCEPT, FeedFetcher
from workers.local.feeds import Item, ServedFeed, rss_document
from workers.local.pages import PageServer, Route
from workers.pipeline.fetch import FetchConfig, Fetcher

pytestmark = pytest.mark.timeout(30)

FETCH = FetchConfig(allow_hosts=("127.0.0.1",), max_attempts=1, connect_timeout_s=2, total_timeout_s=5)
HOME = b"""<!doctype html><html><head><title>Site</title>
<link rel="alternate" type="application/rss+xml" title="World news" href="/feeds/world.rss">
<link rel="alternate" type="application/atom+xml" href="https://other.example/atom.xml?utm_medium=x">
<link rel="alternate" type="application/rss+xml" href="/feeds/world.rss">
<link rel="alternate" hreflang="de" href="/de/">
<link rel="stylesheet" type="text/css" href="/style.css">
<link rel="Alternate Feed" type="application/RSS+XML; charset=utf-8" href="/feeds/two.rss">
</head><body></body></html>"""


def test_feed_links_from_a_home_page():
    found = feed_links(HOME, "https://news.example/index.html")
    assert [(f.url, f.kind, f.title) for f in found] == [
        ("https://news.example/feeds/world.rss", "rss", "World news"),
        ("https://other.example/atom.xml", "atom", None),
        ("https://news.example/feeds/two.rss", "rss", None),
    ]
    assert feed_links(b"", "https://news.example/") == []


def test_base_href_applies_to_feed_links():
    html = b'<html><head><base href="https://cdn.example/en/"><link rel="alternate" ' \
           b'type="application/atom+xml" href="feed.atom"></head></html>'
    assert [f.url for f in feed_links(html, "https://news.example/")] == ["https://cdn.example/en/feed.atom"]


def test_robots_sitemaps():
    robots = ("User-agent: *\nDisallow: /private\nSitemap: https://news.example/sitemap.xml\n"
              "sitemap:/news-sitemap.xml.gz # news\nSitemap: ftp://bad.example/x\n")
    found = robots_sitemaps(robots, "https://news.example/robots.txt")
    assert [(f.url, f.kind) for f in found] == [("https://news.example/sitemap.xml", "sitemap"),
                                                ("https://news.example/news-sitemap.xml.gz", "sitemap")]


@pytest.fixture
def server():
    with loopback_only_connections(), PageServer() as srv:
        yield srv


async def test_discover_a_site_from_its_home_page_and_robots_txt(server):
    server.add_page("/", HOME.replace(b"https://other.example/atom.xml", b"/feeds/atom.xml"))
    server.add("/robots.txt", Route(200, "text/plain", b"User-agent: *\nAllow: /\nSitemap: /sitemap.xml\n"))
    async with FeedFetcher(FETCH) as fetcher:
        found = await discover_feeds(fetcher, server.url("/"))
        missing_site = await discover_feeds(fetcher, "http://127.0.0.1:1/")
    assert [(f.url, f.found_in) for f in found] == [
        (server.url("/feeds/world.rss"), "link"), (server.url("/feeds/atom.xml"), "link"),
        (server.url("/feeds/two.rss"), "link"), (server.url("/sitemap.xml"), "robots.txt")]
    assert missing_site == []


async def test_a_feed_url_given_to_discovery_is_returned_itself(server):
    url = server.add("/rss", ServedFeed(rss_document("Only", [Item(server.url("/a"), "A", 0)])))
    async with FeedFetcher(FETCH) as fetcher:
        found = await discover_feeds(fetcher, url)
    assert [(f.url, f.kind, f.title, f.found_in) for f in found] == [(url, "auto", "Only", "url")]


async def test_conditional_headers_go_to_the_feed_and_never_to_robots_txt(server):
    seen: dict[str, dict[str, str]] = {}

    def robots(handler):
        seen["/robots.txt"] = dict(handler.headers)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    feed = ServedFeed(rss_document("x", []))
    url = server.add("/rss", feed)
    server.add("/robots.txt", robots)
    server.add("/plain-304", Route(304, "text/plain", b""))
    async with FeedFetcher(FETCH) as fetcher:
        first = await fetcher.fetch_feed(url)
        second = await fetcher.fetch_feed(url, etag=first.etag, last_modified=first.last_modified)
        with pytest.raises(HTTPStatusError) as info:  # a 304 nobody asked for is an error
            await fetcher.fetch_feed(url.replace("/rss", "/plain-304"))
    assert first.status == 200 and first.content_type == "application/rss+xml" and first.body == feed.body
    assert second.not_modified and second.body == b"" and second.etag == first.etag
    assert feed.conditional == 1 and feed.not_modified == 1
    assert "If-None-Match" not in seen["/robots.txt"] and "If-Modified-Since" not in seen["/robots.txt"]
    assert info.value.status == 304 and info.value.error_code == "http_304"


async def test_the_article_fetcher_is_unchanged_by_the_feed_fetcher(server):
    server.add("/rss", ServedFeed(rss_document("x", [])))
    async with FeedFetcher(FETCH) as feeds, Fetcher(FETCH) as pages:
        await feeds.fetch_feed(server.url("/rss"), etag='"x"')
        with pytest.raises(Exception) as info:
            await pages.fetch(server.url("/rss"))
    assert type(info.value).__name__ == "NotHTML"
    assert "rss" in FEED_ACCEPT


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    feeds_cli.add_cli(parser.add_subparsers())
    return parser.parse_args(["feeds", *argv])


def test_cli_arguments():
    args = parse("add", "https://a.example/rss", "https://b.example/atom", "--every", "10m", "--source", "lbl")
    assert (args.urls, args.every, args.source, args.kind, args.discover) == (
        ["https://a.example/rss", "https://b.example/atom"], 600.0, "lbl", "auto", False)
    assert parse("add", "--discover", "https://a.example/").discover
    assert parse("remove", "https://a.example/rss").handler is feeds_cli._cmd_remove
    assert parse("list", "--json").json
    with pytest.raises(SystemExit):
        parse("add", "https://a.example/rss", "--every", "soon")


def test_cli_refuses_bad_urls_before_touching_kafka(capsys, monkeypatch):
    monkeypatch.setenv("NEWSWIRE_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing may connect there
    assert feeds_cli.main(["add", "ftp://a.example/feed"]) == 1
    assert feeds_cli.main(["remove", "not a url"]) == 1
    err = capsys.readouterr().err
    assert "ftp://a.example/feed" in err and "not a url" in err

"""Feed parsing: RSS 2.0, RSS 1.0 (RDF), Atom, sitemaps, news sitemaps, indexes, gzip, failures."""

from __future__ import annotations

import gzip

import pytest

from workers.errors import TooLarge
from workers.feeds.parse import FeedParseError, NotAFeed, normalize_date, parse_feed
from workers.local.feeds import (
    Item,
    atom_document,
    rdf_document,
    rss_document,
    sitemap_document,
    sitemap_index_document,
)

BASE = "https://news.example/feeds/world.xml"
T0 = 1_790_000_000.0  # 2026-09-21T...Z
ITEMS = [Item("https://news.example/a/one", "One", T0 + 60), Item("/a/two?utm_source=rss&id=2", "Two", T0)]


def test_rss20_entries_are_canonical_with_titles_and_dates():
    parsed = parse_feed(rss_document("World", ITEMS), base_url=BASE, content_type="application/rss+xml")
    assert parsed.format == "rss20"
    assert parsed.title == "World"
    assert [e.url for e in parsed.entries] == ["https://news.example/a/one", "https://news.example/a/two?id=2"]
    assert [e.title for e in parsed.entries] == ["One", "Two"]
    assert [e.published for e in parsed.entries] == ["2026-09-21T14:14:20Z", "2026-09-21T14:13:20Z"]


def test_rdf_and_atom_parse_to_the_same_entries():
    rdf = parse_feed(rdf_document("World", ITEMS), base_url=BASE)
    atom = parse_feed(atom_document("World", ITEMS), base_url=BASE)
    assert rdf.format == "rss10"
    assert atom.format == "atom10"
    expected = [("https://news.example/a/one", "One", "2026-09-21T14:14:20Z"),
                ("https://news.example/a/two?id=2", "Two", "2026-09-21T14:13:20Z")]
    for parsed in (rdf, atom):
        assert [(e.url, e.title, e.published) for e in parsed.entries] == expected


def test_relative_links_resolve_against_xml_base_and_document_url():
    doc = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://other.example/x/">
      <title>t</title>
      <entry><title>a</title><link href="story/1"/><id>1</id><updated>2026-01-01T00:00:00Z</updated></entry>
    </feed>"""
    parsed = parse_feed(doc, base_url=BASE)
    assert [e.url for e in parsed.entries] == ["https://other.example/x/story/1"]


def test_rss_entry_without_link_uses_a_url_guid_and_drops_the_rest():
    doc = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>a</title><guid>https://news.example/by-guid</guid></item>
      <item><title>b</title><guid isPermaLink="false">urn:uuid:1234</guid></item>
      <item><title>c</title><link>javascript:alert(1)</link></item>
    </channel></rss>"""
    parsed = parse_feed(doc, base_url=BASE)
    assert [e.url for e in parsed.entries] == ["https://news.example/by-guid"]
    assert parsed.dropped == 2


def test_news_sitemap_gives_publication_date_and_title():
    parsed = parse_feed(sitemap_document(ITEMS), base_url="https://news.example/news-sitemap.xml")
    assert parsed.format == "urlset"
    assert [(e.url, e.title, e.published) for e in parsed.entries] == [
        ("https://news.example/a/one", "One", "2026-09-21T14:14:20Z"),
        ("https://news.example/a/two?id=2", "Two", "2026-09-21T14:13:20Z"),
    ]


def test_plain_sitemap_uses_lastmod_and_has_no_title():
    doc = b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <url><loc>https://news.example/p</loc><lastmod>2026-02-03</lastmod></url>
      <url><loc>https://news.example/q</loc><lastmod>2026-02-03T10:00:00+02:00</lastmod></url>
      <url><lastmod>2026-02-03</lastmod></url></urlset>"""
    parsed = parse_feed(doc, base_url=BASE)
    assert [(e.url, e.title, e.published) for e in parsed.entries] == [
        ("https://news.example/p", None, "2026-02-03T00:00:00Z"),
        ("https://news.example/q", None, "2026-02-03T08:00:00Z"),
    ]
    assert parsed.dropped == 1


def test_sitemap_index_lists_children_with_lastmod():
    doc = sitemap_index_document([("/sitemaps/news.xml.gz", T0), ("https://news.example/sitemaps/old.xml", None)])
    parsed = parse_feed(doc, base_url="https://news.example/sitemap.xml")
    assert parsed.is_index
    assert [(c.url, c.lastmod) for c in parsed.children] == [
        ("https://news.example/sitemaps/news.xml.gz", "2026-09-21T14:13:20Z"),
        ("https://news.example/sitemaps/old.xml", None),
    ]
    assert parsed.entries == []


def test_gzipped_sitemap_is_inflated_and_bounded():
    body = gzip.compress(sitemap_document(ITEMS))
    parsed = parse_feed(body, base_url=BASE, content_type="application/x-gzip")
    assert len(parsed.entries) == 2
    bomb = gzip.compress(b"<urlset>" + b" " * 2_000_000 + b"</urlset>")
    with pytest.raises(TooLarge):
        parse_feed(bomb, base_url=BASE, max_bytes=100_000)
    with pytest.raises(FeedParseError) as info:
        parse_feed(b"\x1f\x8b\x08\x00garbage", base_url=BASE)
    assert info.value.code == "feed_malformed"


def test_plain_text_sitemap():
    parsed = parse_feed(b"https://news.example/a\n\nhttps://news.example/b\nnot a url\n", base_url=BASE,
                        content_type="text/plain")
    assert [e.url for e in parsed.entries] == ["https://news.example/a", "https://news.example/b"]
    assert parsed.dropped == 1


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>x</ti',
    b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>x',
    b"<?xml version='1.0'?><rss><channel><item>&undefined;</item></channel></rss>",
])
def test_malformed_documents_give_feed_malformed(body):
    with pytest.raises(FeedParseError) as info:
        parse_feed(body, base_url=BASE)
    assert info.value.code == "feed_malformed"
    assert "malformed" in info.value.detail


@pytest.mark.parametrize("body, content_type", [
    (b"<!doctype html><html><head><title>home</title></head><body><p>hi</p></body></html>", "text/html"),
    (b"", "application/rss+xml"),
    (b'{"items": []}', "application/json"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
])
def test_documents_that_are_not_feeds_give_not_a_feed(body, content_type):
    with pytest.raises(NotAFeed) as info:
        parse_feed(body, base_url=BASE, content_type=content_type)
    assert info.value.code == "not_a_feed"


def test_recovered_feed_keeps_its_entries_and_says_so():
    doc = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>a &amp; b</title><link>https://news.example/ok</link></item>
      <item><title>broken & unescaped</title><link>https://news.example/also</link></item>
    </channel></rss>"""
    parsed = parse_feed(doc, base_url=BASE)
    assert {e.url for e in parsed.entries} == {"https://news.example/ok", "https://news.example/also"}
    assert parsed.warning and "malformed" in parsed.warning


def test_entities_are_not_expanded_from_outside():
    doc = b"""<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file:///etc/passwd">]>
      <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://news.example/&x;</loc></url></urlset>"""
    parsed = parse_feed(doc, base_url=BASE)
    assert all("root" not in e.url for e in parsed.entries)


@pytest.mark.parametrize("raw, expected", [
    ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00Z"),
    ("2026-11-25T11:00:00+01:00", "2026-11-25T10:00:00Z"),
    ("2026-11-25", "2026-11-25T00:00:00Z"),
    ("Wed, 25 Nov 2026 10:00:00 GMT", "2026-11-25T10:00:00Z"),
    ("not a date", None),
    ("", None),
    (None, None),
])
def test_normalize_date(raw, expected):
    assert normalize_date(raw) == expected

from __future__ import annotations

import hashlib

import pytest

from workers.errors import InvalidURL
from workers.pipeline.urls import article_id, canonicalize_url, parse_fetchable_url


@pytest.mark.parametrize("url, canonical", [
    ("HTTP://Example.COM/News", "http://example.com/News"),  # path case is significant
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("http://example.com:443/a", "http://example.com:443/a"),  # default only for its own scheme
    ("http://example.com", "http://example.com/"),
    ("http://example.com/a#section-2", "http://example.com/a"),
    ("http://example.com/a?", "http://example.com/a"),
    ("http://example.com./a", "http://example.com/a"),
    ("  http://example.com/a  ", "http://example.com/a"),
    ("http://example.com/a/./b/../c", "http://example.com/a/c"),
    ("http://example.com/%7Euser", "http://example.com/~user"),
    ("http://example.com/a b", "http://example.com/a%20b"),
    ("http://bücher.de/straße", "http://xn--bcher-kva.de/stra%C3%9Fe"),
    ("http://[::1]:8080", "http://[::1]:8080/"),
    ("http://[2001:DB8::1]/", "http://[2001:db8::1]/"),
])
def test_canonical_form(url, canonical):
    assert canonicalize_url(url) == canonical


@pytest.mark.parametrize("url, canonical", [
    ("http://x.com/a?utm_source=tw&utm_medium=social&id=7", "http://x.com/a?id=7"),
    ("http://x.com/a?UTM_Campaign=x&id=7", "http://x.com/a?id=7"),
    ("http://x.com/a?fbclid=abc", "http://x.com/a"),
    ("http://x.com/a?gclid=1&msclkid=2&mc_cid=3&mc_eid=4&_ga=5&igshid=6&yclid=7&dclid=8", "http://x.com/a"),
    ("http://x.com/a?b=2&a=1&utm_term=z&c=3", "http://x.com/a?b=2&a=1&c=3"),  # order kept
    ("http://x.com/a?a=1&a=2", "http://x.com/a?a=1&a=2"),  # repeated params kept
    ("http://x.com/a?q=a+b&r=%26%3D", "http://x.com/a?q=a+b&r=%26%3D"),  # spelling kept
    ("http://x.com/a?flag&utm_id=1", "http://x.com/a?flag"),
    ("http://x.com/a?source=rss&ref=home", "http://x.com/a?source=rss&ref=home"),  # ambiguous: kept
])
def test_tracking_parameters_removed_and_order_kept(url, canonical):
    assert canonicalize_url(url) == canonical


def test_equivalent_submissions_share_canonical_form_and_id():
    variants = [
        "https://News.Example.com:443/2024/story?id=1&utm_source=x#top",
        "https://news.example.com/2024/story?id=1&fbclid=abc",
        "HTTPS://NEWS.EXAMPLE.COM/2024/story?id=1",
    ]
    assert len({canonicalize_url(v) for v in variants}) == 1
    assert len({article_id(canonicalize_url(v)) for v in variants}) == 1


def test_canonicalization_is_idempotent():
    for url in ["http://Example.com:80/a b?utm_source=1&x=%41#f", "http://bücher.de/ü?q=ä"]:
        once = canonicalize_url(url)
        assert canonicalize_url(once) == once


def test_article_id_is_first_32_hex_of_sha256():
    url = "https://example.com/a"
    assert article_id(url) == hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]
    assert len(article_id(url)) == 32
    assert article_id(url) != article_id(url + "b")


@pytest.mark.parametrize("url", [
    "", "   ", "example.com/a", "/relative/path", "ftp://example.com/", "file:///etc/passwd",
    "javascript:alert(1)", "data:text/html,hi", "mailto:a@b.c", "http://", "http:///path",
    "http://user@example.com/", "http://user:pass@example.com/", "https://:pass@example.com/",
    "http://example.com:99999/", "http://exa mple.com/", "http://exa\nmple.com/", "http://example.com/a\tb", "http://[::1/",
    "http://example.com:0/",
])
def test_invalid_urls(url):
    with pytest.raises(InvalidURL) as info:
        canonicalize_url(url)
    assert info.value.error_code == "invalid_url"


def test_non_string_is_invalid():
    with pytest.raises(InvalidURL):
        canonicalize_url(None)  # type: ignore[arg-type]


def test_parse_fetchable_url_keeps_query_untouched():
    parsed = parse_fetchable_url("http://example.com/a?utm_source=x&b=1")
    assert parsed.raw_query_string == "utm_source=x&b=1"


# -- numeric IPv4 hosts (WHATWG URL's IPv4 parser, as browsers read them) --------


@pytest.mark.parametrize("url, canonical", [
    ("http://2130706433/", "http://127.0.0.1/"),
    ("http://127.1/", "http://127.0.0.1/"),
    ("http://0x7f.1/", "http://127.0.0.1/"),
    ("http://0X7F.0.0.1/a", "http://127.0.0.1/a"),
    ("http://0177.0.0.1/", "http://127.0.0.1/"),
    ("http://0x7f000001:8080/p?q=1", "http://127.0.0.1:8080/p?q=1"),
    ("http://127.1./", "http://127.0.0.1/"),
    ("http://10.1/", "http://10.0.0.1/"),
    ("http://169.254.43518/", "http://169.254.169.254/"),
    ("http://1.2.3/", "http://1.2.0.3/"),
    ("http://0x/", "http://0.0.0.0/"),
    ("http://8.8.8.8/", "http://8.8.8.8/"),
])
def test_numeric_hosts_become_the_dotted_address_they_denote(url, canonical):
    assert canonicalize_url(url) == canonical
    assert str(parse_fetchable_url(url)) == canonical  # what the fetcher requests


@pytest.mark.parametrize("url", [
    "http://1.2.3.4.5/",       # five parts
    "http://256.1.1.1/",       # a leading part over 255
    "http://1.16777216/",      # the last part overflows its three bytes
    "http://4294967296/",      # over 32 bits
    "http://1.2.3.09/",        # ends in a number that is not one (bad octal)
    "http://example.0x10/",    # a name part before a numeric last label
])
def test_numeric_hosts_that_denote_no_address_are_invalid(url):
    with pytest.raises(InvalidURL) as info:
        canonicalize_url(url)
    assert "IPv4" in info.value.detail


@pytest.mark.parametrize("url", ["http://1.example/", "http://example.com/", "http://0x7f.example/",
                                 "http://v1.2x/", "http://123abc/"])
def test_names_with_digits_stay_names(url):
    assert canonicalize_url(url) == url

"""Fetch failures through the real broker: one record or one dead letter per URL, nothing missing, nothing twice."""

from __future__ import annotations

import gzip
import time
from collections import Counter

import pytest

from tests.helpers.kafka import collect, produce, unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.contract.schemas import validate_record
from workers.local.pages import PageServer, Route

ARTICLE = ("<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
           "<p>{body} The council met on Tuesday in Leeds to discuss the plans for the new library.</p>"
           "<p>Residents were asked for their views in a public consultation that ran for six weeks.</p>"
           "</article></body></html>")


def article(title: str, body: str = "") -> bytes:
    return ARTICLE.format(title=title, body=body).encode()


def flaky(failures: int, status: int, extra: tuple[tuple[str, str], ...] = ()):
    """A handler failing ``failures`` times with ``status``, then serving an article."""
    calls = {"n": 0}

    def handle(req) -> None:
        calls["n"] += 1
        if calls["n"] <= failures:
            req.send_response(status)
            for name, value in extra:
                req.send_header(name, value)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        body = article(f"Recovered after {status}")
        req.send_response(200)
        req.send_header("Content-Type", "text/html")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    return handle


def trickle(req) -> None:
    req.send_response(200)
    req.send_header("Content-Type", "text/html")
    req.send_header("Content-Length", "100000")
    req.end_headers()
    try:
        for _ in range(60):
            req.wfile.write(b"<p>.</p>")
            req.wfile.flush()
            time.sleep(0.5)
    except OSError:
        pass


@pytest.fixture
def pages():
    with PageServer() as server:
        server.add("/robots.txt", Route(200, "text/plain", b"User-agent: *\nDisallow: /private/\n"))
        server.add_page("/ok", article("A plain good article"))
        server.add("/cp1251", Route(200, "text/html", (
            "<html><head><meta charset='windows-1251'><title>Новости</title></head><body><article>"
            "<h1>Городской совет утвердил бюджет</h1><p>Городской совет во вторник утвердил бюджет на "
            "следующий год, сообщили в администрации города.</p><p>Депутаты обсуждали документ "
            "несколько часов.</p></article></body></html>").encode("cp1251")))
        server.add("/retry-500", flaky(1, 500))
        server.add("/retry-429", flaky(1, 429, (("Retry-After", "1"),)))
        server.add("/always-503", Route(503, "text/html", b"down"))
        server.add("/image.png", Route(200, "image/png", b"\x89PNG...."))
        server.add("/huge", Route(200, "text/html", b"<html>" + b"x" * 300_000))
        server.add("/bomb", Route(200, "text/html", gzip.compress(b"<p>" + b"a" * 5_000_000),
                                  headers=(("Content-Encoding", "gzip"),)))
        server.add("/slow", trickle)
        for i in range(4):
            server.add(f"/loop{i}", Route(302, "text/html", b"", headers=(("Location", f"/loop{i + 1}"),)))
        server.add("/loop4", Route(302, "text/html", b"", headers=(("Location", "/loop0"),)))
        server.add("/to-metadata", Route(302, "text/html", b"",
                                         headers=(("Location", "http://169.254.169.254/latest/meta-data/"),)))
        server.add_page("/private/secret", article("Disallowed by robots"))
        yield server


EXPECTED = {
    "/ok": "record",
    "/cp1251": "record",
    "/retry-500": "record",
    "/retry-429": "record",
    "/missing": "http_404",
    "/always-503": "http_5xx_exhausted",
    "/image.png": "not_html",
    "/huge": "too_large",
    "/bomb": "too_large",
    "/slow": "timeout",
    "/loop0": "too_many_redirects",
    "/to-metadata": "blocked_address",
    "/private/secret": "robots_disallowed",
}


async def test_mixed_batch_yields_exactly_one_output_per_url(kafka_bootstrap, tmp_path, pages):
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_FETCH_MAX_BYTES="200000", NEWSWIRE_FETCH_TOTAL_TIMEOUT_S="3",
                            NEWSWIRE_FETCH_READ_TIMEOUT_S="2", NEWSWIRE_FETCH_MAX_REDIRECTS="3",
                            NEWSWIRE_FETCH_MAX_ATTEMPTS="2", NEWSWIRE_ENTITIES_ENABLED="false")
    worker = WorkerProcess(env, tmp_path).start()
    try:
        worker.wait_ready()
        urls = {pages.url(path): want for path, want in EXPECTED.items()}
        await produce(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], [u.encode() for u in urls])
        out = [env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_DEADLETTER_TOPIC"]]
        found = await collect(kafka_bootstrap, out, timeout=180,
                              until=lambda f: len(f[out[0]]) + len(f[out[1]]) >= len(urls))
    finally:
        worker.terminate()

    outcome: dict[str, str] = {}
    seen = Counter()
    for _, record, _ in found[out[0]]:
        validate_record("article", record)
        seen[record["url"]] += 1
        outcome[record["url"]] = "record"
    for _, letter, _ in found[out[1]]:
        validate_record("deadletter", letter)
        seen[letter["url"]] += 1
        outcome[letter["url"]] = letter["error"]
    assert set(seen) == set(urls), "a URL is missing"
    assert all(n == 1 for n in seen.values()), f"a URL came out twice: {seen}"
    assert outcome == urls, worker.log_tail()

    records = {r["url"]: r for _, r, _ in found[out[0]]}
    assert "Городской совет" in records[pages.url("/cp1251")]["text"]
    letters = {v["url"]: v for _, v, _ in found[out[1]]}
    assert letters[pages.url("/always-503")]["attempts"] == 2
    assert letters[pages.url("/missing")]["attempts"] == 1
    assert "image/png" in letters[pages.url("/image.png")]["detail"]
    assert pages.hits.get("/private/secret") is None  # robots honoured before fetching
    assert pages.hits.get("/robots.txt") == 1  # fetched once per host, cached

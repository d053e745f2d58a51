"""The skeleton end to end on the real broker: URLs in, records and dead letters out."""

from __future__ import annotations

import orjson
import pytest

from tests.helpers.expectations import SEED_HTML, assert_seed_record
from tests.helpers.kafka import collect, produce, unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.contract.schemas import validate_record
from workers.local.pages import PageServer, Route
from workers.pipeline.record import ARTICLE_SCHEMA_VERSION

GOOD_PAGE = """<html lang="en"><head><title>Harbour bridge reopens after repairs</title></head><body>
<article><h1>Harbour bridge reopens after repairs</h1>
<p>The harbour bridge in Portsmouth reopened on Monday after eight months of repairs, the city council said.</p>
<p>Engineers replaced the steel cables and resurfaced the deck, which carries some 40,000 vehicles a day.</p>
<p>Mayor Jane Porter thanked residents for their patience during the long closure of the crossing.</p>
</article></body></html>"""


@pytest.fixture
def pages():
    with PageServer() as server:
        server.add_page("/seed", SEED_HTML.read_bytes())
        server.add_page("/good", GOOD_PAGE)
        server.add("/data.json", Route(200, "application/json", b'{"not": "html"}'))
        yield server


@pytest.fixture
def worker_env(kafka_bootstrap):
    return unique_topics_env(kafka_bootstrap)


@pytest.fixture
def worker(worker_env, tmp_path):
    proc = WorkerProcess(worker_env, tmp_path).start()
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.terminate()


async def test_urls_become_records_and_failures_dead_letters(kafka_bootstrap, worker_env, worker, pages):
    env = worker_env
    bad_messages = [
        pages.url("/missing").encode(),                       # http_404
        b"http://127.0.0.1:1/nothing-listens-here",            # connection_error
        pages.url("/data.json").encode(),                      # not_html
        b"this is not a url",                                  # invalid_message
        b"\xff\xfe\xfa not utf-8",                              # invalid_message (bytes)
        b'{"url": ',                                           # invalid_message (JSON)
    ]
    good = [orjson.dumps({"url": pages.url("/seed"), "source": "e2e-test"}), pages.url("/good").encode()]
    await produce(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], bad_messages + good)

    topics = [env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_DEADLETTER_TOPIC"]]
    found = await collect(kafka_bootstrap, topics,
                          until=lambda f: len(f[topics[0]]) >= 2 and len(f[topics[1]]) >= 6, timeout=180)
    articles = {v["url"]: (k, v, h) for k, v, h in found[topics[0]]}
    letters = found[topics[1]]
    for _, article, _ in found[topics[0]]:
        validate_record("article", article)
    for _, letter, _ in letters:
        validate_record("deadletter", letter)
    assert len(articles) == 2, worker.log_tail()
    assert len(letters) == 6, letters

    key, seed, headers = articles[pages.url("/seed")]
    assert_seed_record(seed)
    assert key == seed["id"].encode()
    assert seed["source"] == "e2e-test"
    assert headers["schema_version"] == ARTICLE_SCHEMA_VERSION.encode() == seed["schema_version"].encode()
    assert headers["trace_id"]
    assert pages.url("/good") in articles

    by_code = sorted(v["error"] for _, v, _ in letters)
    assert by_code == sorted(["http_404", "connection_error", "not_html",
                              "invalid_message", "invalid_message", "invalid_message"])
    for _, letter, _ in letters:
        assert letter["stage"] in {"decode", "fetch"}
        assert letter["detail"] and letter["failed_at"] and letter["attempts"] >= 1
        assert letter["url"] or letter["raw"]
    not_html = next(v for _, v, _ in letters if v["error"] == "not_html")
    assert "application/json" in not_html["detail"]
    # The worker is still alive and ready after all the failures.
    assert worker.proc.poll() is None
    assert worker.readiness()["ready"]

"""Article revisions on the real broker: one article changed between refreshes, both modes, a restart between versions.

A local page server serves one story whose HTML the test changes between
fetches: the headline, a paragraph added, the worker restarted (the versions
table must come back from its changelog), a paragraph removed, a typo fixed,
then an unchanged refresh that must publish nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from itertools import pairwise

import orjson
import pytest

from tests.helpers.kafka import collect, produce, unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from tests.integration.worker.test_observability import scrape, value, wait_for
from workers.contract.schemas import validate_record
from workers.local.pages import PageServer

TITLE = "Harbour bridge reopens after repairs"
PARAGRAPHS = [
    "The harbour bridge in Portsmouth reopened on Monday after eight months of repairs, the city council said.",
    "Engineers replaced the steel cables and resurfaced the deck, which carries some 40,000 vehicles a day.",
    "Mayor Jane Porter thanked residents for their patience during the long closure of the crossing.",
]
ADDED = "Local businesses near the crossing said trade had fallen by a third while the bridge was closed."


def page(title: str, paragraphs: list[str]) -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (f'<html lang="en"><head><title>{title}</title></head><body>'
            f"<article><h1>{title}</h1>\n{body}\n</article></body></html>")


def submit_refresh_with_cli(env: dict[str, str], url: str) -> None:
    result = subprocess.run([sys.executable, "-m", "workers", "submit", "--refresh", url],
                            env={**os.environ, **env}, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
async def test_revision_sequence_with_a_restart_between_versions(kafka_bootstrap, tmp_path, mode):
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_PROCESSING_GUARANTEE=mode,
                            NEWSWIRE_ENTITIES_ENABLED="false")
    articles_topic, revisions_topic = env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_REVISIONS_TOPIC"]
    topics = [articles_topic, revisions_topic]

    def by_version(found: dict[str, list]) -> tuple[dict[int, dict], dict[int, tuple[bytes, dict, dict]]]:
        """The outputs per version: at_least_once may write one twice (e.g. around the restart), never another."""
        articles = {v["version"]: v for _, v, _ in reversed(found[articles_topic])}
        revisions = {v["version"]: (k, v, h) for k, v, h in reversed(found[revisions_topic])}
        if mode == "exactly_once":
            assert (len(found[articles_topic]), len(found[revisions_topic])) == (len(articles), len(revisions))
        return articles, revisions

    async def until(articles: int, revisions: int) -> tuple[list[dict], list[tuple[bytes, dict, dict]]]:
        def enough(found: dict[str, list]) -> bool:
            have = by_version(found)
            return len(have[0]) >= articles and len(have[1]) >= revisions

        versions, revision_versions = by_version(await collect(kafka_bootstrap, topics, timeout=240, until=enough))
        assert sorted(versions) == list(range(1, articles + 1)), worker.log_tail()
        assert sorted(revision_versions) == list(range(2, revisions + 2)), worker.log_tail()
        return [versions[v] for v in sorted(versions)], [revision_versions[v] for v in sorted(revision_versions)]

    async def refresh() -> None:
        await produce(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], [orjson.dumps({"url": url, "refresh": True})])

    with PageServer() as pages:
        url = pages.add_page("/story", page(TITLE, PARAGRAPHS))
        worker = WorkerProcess(env, tmp_path, name="w1").start()
        try:
            worker.wait_ready()
            # v1: the first record.
            await produce(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], [url.encode()])
            articles, _ = await until(1, 0)
            assert (articles[0]["version"], articles[0]["previous_content_hash"]) == (1, None)

            # v2: a new headline (the same text).
            pages.add_page("/story", page("Harbour bridge reopens months late", PARAGRAPHS))
            await refresh()
            articles, revisions = await until(2, 1)
            key, revision, headers = revisions[0]
            assert key == articles[1]["id"].encode() and headers["schema_version"] == b"1.0"
            assert revision["title_changed"] and revision["substantive"]
            assert (revision["title_before"], revision["title_after"]) == (TITLE, "Harbour bridge reopens months late")
            assert (revision["version"], revision["previous_version"]) == (2, 1)

            # v3: a paragraph added, submitted with `newswire submit --refresh`.
            pages.add_page("/story", page("Harbour bridge reopens months late", PARAGRAPHS + [ADDED]))
            submit_refresh_with_cli(env, url)
            articles, revisions = await until(3, 2)
            revision = revisions[1][1]
            assert revision["paragraphs_added"] == [ADDED] and revision["paragraphs_removed"] == []
            assert revision["substantive"] and not revision["title_changed"]
        finally:
            worker.terminate()

        # A new worker process: the versions table must come back from its changelog.
        worker = WorkerProcess(env, tmp_path, name="w2").start()
        try:
            worker.wait_ready()
            # v4: a paragraph removed.
            pages.add_page("/story", page("Harbour bridge reopens months late", [PARAGRAPHS[0], PARAGRAPHS[2], ADDED]))
            await refresh()
            articles, revisions = await until(4, 3)
            revision = revisions[2][1]
            assert (revision["version"], revision["previous_version"]) == (4, 3), "version state lost in the restart"
            assert revision["paragraphs_removed"] == [PARAGRAPHS[1]] and revision["paragraphs_added"] == []
            assert revision["substantive"]

            # v5: a one-character typo fixed -- a revision, not substantive.
            typo_fixed = [PARAGRAPHS[0], PARAGRAPHS[2].replace("patience", "patiense"), ADDED]
            pages.add_page("/story", page("Harbour bridge reopens months late", typo_fixed))
            await refresh()
            articles, revisions = await until(5, 4)
            revision = revisions[3][1]
            assert revision["paragraphs_added"] == [] and revision["paragraphs_removed"] == []
            assert 0 < revision["change_ratio"] < 0.05
            assert not revision["substantive"] and not revision["title_changed"]

            # Unchanged refresh: fetched again, nothing published, counted.
            hits = pages.hits["/story"]
            await refresh()
            wait_for(worker, lambda s: value(s, "newswire_revisions_unchanged_total") >= 1, 180,
                     "the unchanged refresh")
            assert pages.hits["/story"] > hits
            # Everything on the topics now (read to the end, not up to a count): still 5 versions, 4 revisions.
            found = await collect(kafka_bootstrap, topics, until=lambda f: False, timeout=8)
            assert tuple(map(sorted, by_version(found))) == ([1, 2, 3, 4, 5], [2, 3, 4, 5])
            assert value(scrape(worker), "newswire_revisions_published_total", substantive="false") >= 1
        finally:
            worker.terminate()

    assert [a["version"] for a in articles] == [1, 2, 3, 4, 5]
    for previous, current in pairwise(articles):
        assert current["previous_content_hash"] == previous["content_hash"]
    for article in articles:
        validate_record("article", article)
    for _, revision, _ in revisions:
        validate_record("revision", revision)
        assert revision["id"] == articles[0]["id"] and revision["url"] == url
    assert [r["content_hash"] for _, r, _ in revisions] == [a["content_hash"] for a in articles[1:]]


async def test_a_feed_entry_updated_after_its_fetch_is_refreshed_into_a_revision(kafka_bootstrap, tmp_path):
    import uuid

    from tests.integration.feeds.test_feeds import newswire
    from tests.integration.feeds.test_feeds import wait_for as wait_until
    from workers.local.feeds import ServedFeed

    tag = uuid.uuid4().hex[:8]
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_FEEDS_TOPIC=f"f{tag}.feeds",
                            NEWSWIRE_FEEDS_STATUS_TOPIC=f"f{tag}.feeds.status", NEWSWIRE_FEEDS_TICK_S="0.25",
                            NEWSWIRE_ENTITIES_ENABLED="false")
    articles_topic, revisions_topic = env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_REVISIONS_TOPIC"]

    def atom(link: str, updated: str) -> bytes:
        return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>h</title>'
                f'<id>urn:h</id><updated>{updated}</updated><entry><title>{TITLE}</title>'
                f'<link rel="alternate" href="{link}"/><id>{link}</id><published>2026-12-01T08:00:00Z</published>'
                f"<updated>{updated}</updated></entry></feed>").encode()

    with PageServer() as site:
        url = site.add_page("/story", page(TITLE, PARAGRAPHS))
        feed = ServedFeed(atom(url, "2026-12-01T08:00:00Z"), "application/atom+xml")
        feed_url = site.add("/feed.xml", feed)
        worker = WorkerProcess(env, tmp_path).start()
        try:
            worker.wait_ready()
            newswire(env, "feeds", "add", feed_url, "--every", "1s")
            await collect(kafka_bootstrap, [articles_topic], until=lambda f: len(f[articles_topic]) >= 1, timeout=180)
            polls = feed.requests
            await wait_until(lambda: feed.requests >= polls + 2, 60, "two more polls of the unchanged feed")

            # The page changes and the feed says so with an <updated> after the first fetch.
            site.add_page("/story", page(TITLE, PARAGRAPHS + [ADDED]))
            feed.update(atom(url, "2099-01-01T00:00:00Z"))
            found = await collect(kafka_bootstrap, [articles_topic, revisions_topic], timeout=180,
                                  until=lambda f: len(f[revisions_topic]) >= 1)
            [(_, revision, _)] = found[revisions_topic]
            assert revision["paragraphs_added"] == [ADDED] and revision["version"] == 2, worker.log_tail()
            # Listed again with the same date at later polls: no second refresh.
            polls = feed.requests
            await wait_until(lambda: feed.requests >= polls + 3, 60, "three more polls")
            found = await collect(kafka_bootstrap, [articles_topic, revisions_topic], until=lambda f: False,
                                  timeout=5)
            assert [v["version"] for _, v, _ in found[articles_topic]] == [1, 2]
            assert len(found[revisions_topic]) == 1
        finally:
            worker.terminate()

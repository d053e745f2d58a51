"""MessageHandler and revisions: refresh, versions table, the revision beside its record (no Kafka)."""

from __future__ import annotations

import orjson

from tests.unit.processing.test_handler import Outbox, make_record
from workers.contract.schemas import validate_record
from workers.observability.metrics import Metrics
from workers.pipeline.record import ArticleRecord
from workers.pipeline.revisions import ArticleVersion
from workers.pipeline.submission import Submission, decode_submission, encode_submission
from workers.pipeline.urls import article_id, canonicalize_url
from workers.processing.handler import HASHES, REVISION_HEADER, SEEN, SUBMISSION_HEADER, VERSIONS, MessageHandler
from workers.processing.idempotence import SeenEntry

URL = "https://news.example/story"
ID = article_id(canonicalize_url(URL))
V1 = ("Harbour bridge reopens", ["The harbour bridge reopened on Monday after eight months of repairs.",
                                 "Engineers replaced the steel cables and resurfaced the deck of the bridge."])


class PagePipeline:
    """Serves the current (title, paragraphs) of the page, which a test changes between fetches."""

    def __init__(self) -> None:
        self.page = V1
        self.fetches = 0

    async def process(self, submission: Submission) -> ArticleRecord:
        self.fetches += 1
        title, paragraphs = self.page
        record = make_record(submission.url, "\n\n".join(paragraphs))
        record.title = title
        record.entities_status = "disabled"
        record.removed = {"title_repeats": 0, "duplicate_headings": 0, "duplicate_paragraphs": 0,
                          "boilerplate_blocks": 0}
        return record


class Stream:
    """The three steps back to back with dict tables, keeping every published message."""

    def __init__(self, **kwargs) -> None:
        self.pipeline = PagePipeline()
        self.metrics = Metrics()
        self.clock = 1000.0
        self.handler = MessageHandler(self.pipeline, entities_stream=False, metrics=self.metrics,
                                      clock=lambda: self.clock, dedupe_window_s=3600, **kwargs)
        self.seen: dict = {}
        self.versions: dict = {}
        self.hashes: dict = {}
        self.published: list[tuple[str, bytes, bytes, dict]] = []
        self.offset = 0

    async def submit(self, refresh: bool = False) -> str:
        self.offset += 1
        out = Outbox()
        raw = encode_submission(Submission(url=URL, refresh=refresh))
        result = await self.handler.process(raw, {SUBMISSION_HEADER: f"urls:0:{self.offset}".encode()},
                                            self.seen, out, self.versions)
        self.seen.update(out.state.get(SEEN, {}))
        self.versions.update(out.state.get(VERSIONS, {}))
        for role, _, value, headers in out.messages:
            assert role == "records"
            box = Outbox()
            await self.handler.publish(value, headers, self.hashes, box)
            self.hashes.update({k: v.decode() for k, v in box.state.get(HASHES, {}).items()})
            self.published += box.messages
        return result

    def of(self, role: str) -> list[dict]:
        return [orjson.loads(value) for r, _, value, _ in self.published if r == role]


def test_refresh_is_decoded_encoded_and_refused_when_not_boolean():
    assert decode_submission(b'{"url": "https://e.com/a", "refresh": true}').refresh is True
    assert decode_submission(b'{"url": "https://e.com/a"}').refresh is False
    assert orjson.loads(encode_submission(Submission(url="https://e.com/a", refresh=True)))["refresh"] is True
    assert "refresh" not in orjson.loads(encode_submission(Submission(url="https://e.com/a")))
    validate_record("submission", orjson.loads(encode_submission(Submission(url="https://e.com/a", refresh=True))))
    import pytest

    from workers.errors import InvalidMessage
    with pytest.raises(InvalidMessage, match="refresh"):
        decode_submission(b'{"url": "https://e.com/a", "refresh": "yes"}')


async def test_first_record_is_version_1_and_its_version_is_stored():
    stream = Stream()
    assert await stream.submit() == "record"
    [article] = stream.of("articles")
    assert (article["version"], article["previous_content_hash"]) == (1, None)
    validate_record("article", article)
    stored = ArticleVersion.from_bytes(stream.versions[ID])
    assert stored.version == 1 and stored.content_hash == article["content_hash"]
    assert stream.of("revisions") == []


async def test_plain_resubmission_within_the_window_is_not_fetched_but_a_refresh_is():
    stream = Stream()
    await stream.submit()
    assert await stream.submit() == "skip_duplicate"
    assert stream.pipeline.fetches == 1
    assert await stream.submit(refresh=True) == "unchanged"
    assert stream.pipeline.fetches == 2


async def test_unchanged_refresh_publishes_nothing_and_is_counted():
    stream = Stream()
    await stream.submit()
    before = len(stream.published)
    stream.clock += 10
    assert await stream.submit(refresh=True) == "unchanged"
    assert len(stream.published) == before
    assert stream.metrics.revisions_unchanged._value.get() == 1
    # The seen table remembers the refresh (a replay of it is skipped), the version stays 1.
    assert SeenEntry.from_bytes(stream.seen[ID]).recorded_at == 1010.0
    assert ArticleVersion.from_bytes(stream.versions[ID]).version == 1


async def test_changed_headline_publishes_version_2_and_its_revision_keyed_by_article_id():
    stream = Stream()
    await stream.submit()
    stream.pipeline.page = ("Harbour bridge reopens months late", V1[1])
    assert await stream.submit(refresh=True) == "record"
    first, second = stream.of("articles")
    assert (second["version"], second["previous_content_hash"]) == (2, first["content_hash"])
    validate_record("article", second)
    [(role, key, value, headers)] = [m for m in stream.published if m[0] == "revisions"]
    revision = orjson.loads(value)
    validate_record("revision", revision)
    assert key == second["id"].encode() and headers["schema_version"] == b"1.0"
    assert (revision["version"], revision["previous_version"]) == (2, 1)
    assert (revision["title_before"], revision["title_after"]) == (V1[0], "Harbour bridge reopens months late")
    assert revision["title_changed"] and revision["substantive"]
    assert revision["content_hash"] == second["content_hash"]
    assert revision["previous_content_hash"] == first["content_hash"]
    assert stream.metrics.revisions_published.labels(substantive="true")._value.get() == 1
    # The revision travels in a header of the internal records stream, never on the article.
    assert REVISION_HEADER not in {k for m in stream.published for k in m[3]}


async def test_revision_comes_in_the_same_outbox_as_its_record():
    stream = Stream()
    await stream.submit()
    stream.pipeline.page = (V1[0], V1[1] + ["A third paragraph with the mayor's reaction to the reopening."])
    out = Outbox()
    await stream.handler.process(encode_submission(Submission(url=URL, refresh=True)),
                                 {SUBMISSION_HEADER: b"urls:0:99"}, stream.seen, out, stream.versions)
    [(_, _, record, headers)] = out.messages
    box = Outbox()
    await stream.handler.publish(record, headers, stream.hashes, box)
    assert box.roles() == ["articles", "revisions"]
    revision = orjson.loads(box.messages[1][2])
    assert revision["paragraphs_added"] == ["A third paragraph with the mayor's reaction to the reopening."]
    assert revision["paragraphs_removed"] == [] and revision["substantive"]


async def test_typo_fix_is_a_revision_that_is_not_substantive():
    stream = Stream()
    stream.pipeline.page = (V1[0], [V1[1][0], V1[1][1].replace("resurfaced", "resurfcaed")])
    await stream.submit()
    stream.pipeline.page = V1
    await stream.submit(refresh=True)
    [revision] = stream.of("revisions")
    assert revision["paragraphs_added"] == [] and revision["paragraphs_removed"] == []
    assert 0 < revision["change_ratio"] < 0.05
    assert not revision["substantive"] and not revision["title_changed"]
    assert stream.metrics.revisions_published.labels(substantive="false")._value.get() == 1


async def test_removed_paragraph_and_versions_counting_on():
    stream = Stream()
    await stream.submit()
    stream.pipeline.page = (V1[0], V1[1][:1])
    await stream.submit(refresh=True)
    stream.pipeline.page = ("New title", V1[1][:1])
    await stream.submit(refresh=True)
    revisions = stream.of("revisions")
    assert [r["version"] for r in revisions] == [2, 3]
    assert revisions[0]["paragraphs_removed"] == [V1[1][1]]
    assert [a["version"] for a in stream.of("articles")] == [1, 2, 3]


async def test_revisions_disabled_still_versions_the_records():
    stream = Stream(revisions_stream=False)
    await stream.submit()
    stream.pipeline.page = ("Other", V1[1])
    await stream.submit(refresh=True)
    assert [a["version"] for a in stream.of("articles")] == [1, 2]
    assert stream.of("revisions") == []


async def test_resubmission_after_the_window_with_unchanged_content_republishes_the_same_version():
    stream = Stream()
    await stream.submit()
    stream.clock += 7200
    assert await stream.submit() == "record"
    assert [a["version"] for a in stream.of("articles")] == [1, 1]
    assert stream.of("revisions") == []


async def test_handle_keeps_versions_in_its_local_state():
    pipeline = PagePipeline()
    h = MessageHandler(pipeline, entities_stream=False, metrics=Metrics())
    out = Outbox()
    state: dict = {}
    await h.handle(encode_submission(Submission(url=URL)), out, state)
    pipeline.page = ("Changed", V1[1])
    await h.handle(encode_submission(Submission(url=URL, refresh=True)), out, state)
    assert out.roles() == ["articles", "articles", "revisions"]
    assert ArticleVersion.from_bytes(state[VERSIONS][ID]).version == 2


def test_refresh_skips_the_window_but_not_a_replay():
    from workers.processing.idempotence import Decision, Outcome, after_outcome, decide

    entry = SeenEntry(submission="urls:0:1", outcome="record", recorded_at=1000.0)
    assert decide(entry, submission="urls:0:2", now=1010.0, window_s=3600) is Decision.SKIP_DUPLICATE
    assert decide(entry, submission="urls:0:2", now=1010.0, window_s=3600, refresh=True) is Decision.PROCESS
    assert decide(entry, submission="urls:0:1", now=1010.0, window_s=3600, refresh=True) is Decision.SKIP_REPLAY
    unchanged = after_outcome(entry, submission="urls:0:2", outcome=Outcome.UNCHANGED, now=1010.0)
    assert (unchanged.outcome, unchanged.recorded_at) == ("unchanged", 1010.0)


async def test_a_replayed_refresh_yields_nothing_new():
    stream = Stream()
    await stream.submit()
    stream.pipeline.page = ("Other headline", V1[1])
    out = Outbox()
    raw = encode_submission(Submission(url=URL, refresh=True))
    headers = {SUBMISSION_HEADER: b"urls:0:50"}
    assert await stream.handler.process(raw, headers, stream.seen, out, stream.versions) == "record"
    stream.seen.update(out.state[SEEN])
    stream.versions.update(out.state[VERSIONS])
    again = Outbox()
    assert await stream.handler.process(raw, {SUBMISSION_HEADER: b"urls:0:50"}, stream.seen, again,
                                        stream.versions) == "skip_replay"
    assert again.messages == [] and again.state == {}

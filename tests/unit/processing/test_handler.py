"""MessageHandler: route -> process -> publish, without Kafka (a recording outbox, dict tables)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from workers.errors import HTTPStatusError
from workers.observability.metrics import Metrics
from workers.pipeline.record import ArticleRecord, content_hash
from workers.pipeline.submission import Submission
from workers.pipeline.urls import article_id, canonicalize_url
from workers.processing.handler import HASHES, SEEN, SUBMISSION_HEADER, TRACE_HEADER, MessageHandler
from workers.processing.idempotence import SeenEntry


def make_record(url: str, text: str = "Body text of the article.") -> ArticleRecord:
    canonical = canonicalize_url(url)
    return ArticleRecord(
        id=article_id(canonical), url=url, canonical_url=canonical, final_url=canonical,
        fetched_at="2026-01-01T00:00:00.000Z", http_status=200, title="Title", authors=[], published=None,
        site_name=None, language="en", language_confidence=1.0, description=None, tags=[], image=None,
        text=text, word_count=len(text.split()), blocks=[], entities=[], facts=[], entities_status="skipped",
        removed={}, content_hash=content_hash(text),
    )


class FakePipeline:
    def __init__(self, texts: dict[str, str] | None = None, fail: set[str] | None = None) -> None:
        self.texts = texts or {}
        self.fail = fail or set()
        self.calls: list[str] = []

    async def process(self, submission: Submission) -> ArticleRecord:
        self.calls.append(submission.url)
        if submission.url in self.fail:
            raise HTTPStatusError(404, "HTTP 404", attempts=1)
        return make_record(submission.url, self.texts.get(submission.url, f"Text of {submission.url}."))


class Outbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bytes, dict]] = []
        self.state: dict[str, dict] = {}

    async def publish(self, role, key, value, headers) -> None:
        self.messages.append((role, key, value, headers))

    def remember(self, table, key, value) -> None:
        self.state.setdefault(table, {})[key] = value

    def roles(self) -> list[str]:
        return [m[0] for m in self.messages]


def handler(pipeline, **kwargs) -> MessageHandler:
    kwargs.setdefault("metrics", Metrics())
    return MessageHandler(pipeline, entities_stream=False, **kwargs)


URL = "https://news.example/story?utm_source=x"


async def test_route_forwards_keyed_by_article_id_with_the_submission_id():
    out = Outbox()
    result = await handler(None).route(URL.encode(), {TRACE_HEADER: b"t1"}, "urls:2:7", out)
    assert result == "forwarded"
    [(role, key, value, headers)] = out.messages
    assert role == "submissions"
    assert key == article_id(canonicalize_url(URL)).encode()
    assert orjson.loads(value)["url"] == URL
    assert headers[SUBMISSION_HEADER] == b"urls:2:7" and headers[TRACE_HEADER] == b"t1"


@pytest.mark.parametrize("raw,field", [(b"not a url", "raw"), (b"ftp://example.org/file", "url")])
async def test_route_dead_letters_unusable_messages(raw, field):
    out = Outbox()
    assert await handler(None).route(raw, {}, "urls:0:1", out) == "dead_letter"
    [(role, _, value, _)] = out.messages
    letter = orjson.loads(value)
    assert role == "deadletter" and letter["stage"] == "decode" and letter[field]


async def process(h: MessageHandler, seen: dict, url: str = URL, sid: str = "urls:0:1") -> tuple[str, Outbox]:
    out = Outbox()
    result = await h.process(orjson.dumps({"url": url}), {SUBMISSION_HEADER: sid.encode()}, seen, out)
    seen.update(out.state.get(SEEN, {}))
    return result, out


async def test_process_forwards_record_keyed_by_content_hash_and_remembers_it():
    clock = iter([1000.0, 1010.0])
    h = handler(FakePipeline(), clock=lambda: next(clock))
    seen: dict = {}
    result, out = await process(h, seen)
    assert result == "record"
    [(role, key, value, _)] = out.messages
    record = orjson.loads(value)
    assert role == "records" and key == record["content_hash"].encode()
    entry = SeenEntry.from_bytes(seen[record["id"]])
    assert entry.submission == "urls:0:1" and entry.recorded_at == 1000.0


async def test_repeat_within_window_is_not_fetched_and_counted():
    pipeline = FakePipeline()
    metrics = Metrics()
    clock = iter([1000.0, 1500.0])
    h = handler(pipeline, clock=lambda: next(clock), dedupe_window_s=3600, metrics=metrics)
    seen: dict = {}
    await process(h, seen, sid="urls:0:1")
    result, out = await process(h, seen, sid="urls:4:9")
    assert result == "skip_duplicate" and out.messages == [] and out.state == {}
    assert pipeline.calls == [URL]
    assert metrics.duplicates_skipped._value.get() == 1


async def test_redelivered_submission_is_skipped_even_when_it_failed():
    pipeline = FakePipeline(fail={URL})
    h = handler(pipeline)
    seen: dict = {}
    first, out = await process(h, seen, sid="urls:0:1")
    assert first == "dead_letter" and out.roles() == ["deadletter"]
    again, out = await process(h, seen, sid="urls:0:1")
    assert again == "skip_replay" and out.messages == []
    # A new submission of a failed URL is tried again (failures are often transient).
    retry, _ = await process(h, seen, sid="urls:0:2")
    assert retry == "dead_letter" and len(pipeline.calls) == 2


async def test_pipeline_bug_costs_one_dead_letter():
    class Broken:
        async def process(self, submission):
            raise ZeroDivisionError("boom")

    result, out = await process(handler(Broken()), {})
    assert result == "dead_letter"
    letter = orjson.loads(out.messages[0][2])
    assert "ZeroDivisionError" in letter["detail"]


async def test_oversized_record_becomes_a_dead_letter():
    h = handler(FakePipeline(texts={URL: "word " * 5000}), max_record_bytes=2000)
    result, out = await process(h, {})
    assert result == "dead_letter"
    assert orjson.loads(out.messages[0][2])["error"] == "record_too_large"


async def test_publish_marks_later_copies_duplicate_of_the_first():
    h = handler(None)
    first = make_record("https://a.example/one", "Same words.")
    second = make_record("https://b.example/two", "Same   words.")  # whitespace differs: same hash
    hashes: dict[str, str] = {}
    out = Outbox()
    await h.publish(orjson.dumps(first), {}, hashes, out)
    hashes.update({k: v.decode() for k, v in out.state[HASHES].items()})
    await h.publish(orjson.dumps(second), {}, hashes, out)
    await h.publish(orjson.dumps(first), {}, hashes, out)  # the first again: not its own duplicate
    published = [orjson.loads(v) for role, _, v, _ in out.messages if role == "articles"]
    assert [p.get("duplicate_of") for p in published] == [None, first.id, None]
    assert [k for role, k, _, _ in out.messages] == [first.id.encode(), second.id.encode(), first.id.encode()]


async def test_handle_runs_all_steps_and_resubmission_yields_no_record():
    out = Outbox()
    state: dict = {}
    h = handler(FakePipeline(fail={"https://x.example/gone"}))
    assert await h.handle(URL.encode(), out, state) == "record"
    assert await h.handle(URL.encode(), out, state) == "skip_duplicate"
    assert await h.handle(b"https://x.example/gone", out, state) == "dead_letter"
    assert out.roles() == ["articles", "deadletter"]


async def test_a_hung_pipeline_costs_one_dead_letter_not_the_partition():
    class Hung:
        async def process(self, submission):
            await asyncio.sleep(3600)

    result, out = await process(handler(Hung(), process_timeout_s=0.05), {})
    assert result == "dead_letter"
    letter = orjson.loads(out.messages[0][2])
    assert letter["error"] == "extract_failed" and "did not finish" in letter["detail"]


# -- an output Kafka refused as too large (issue 18, hole 3) ---------------------


async def test_a_refused_record_becomes_one_dead_letter_for_its_url():
    record = make_record("https://example.com/a")
    out = Outbox()
    result = await handler(FakePipeline()).refused_record(record_bytes(record), {TRACE_HEADER: b"t1"},
                                                          "MessageSizeTooLargeError", out)
    assert result == "dead_letter" and out.roles() == ["deadletter"]
    letter = orjson.loads(out.messages[0][2])
    assert (letter["error"], letter["stage"], letter["url"]) == ("record_too_large", "publish", record.url)
    assert letter["id"] == record.id and "MessageSizeTooLargeError" in letter["detail"]
    assert out.messages[0][3][TRACE_HEADER] == b"t1"


async def test_a_refused_forward_in_the_process_step_is_remembered_as_a_dead_letter():
    url = "https://example.com/b"
    ident = article_id(canonicalize_url(url))
    out = Outbox()
    raw = orjson.dumps({"url": url})
    result = await handler(FakePipeline()).refused_submission(raw, {SUBMISSION_HEADER: b"urls:0:7"}, "too large",
                                                              out, seen={})
    assert result == "dead_letter" and out.roles() == ["deadletter"]
    assert orjson.loads(out.messages[0][2])["error"] == "record_too_large"
    assert SeenEntry.from_bytes(out.state[SEEN][ident]).outcome == "dead_letter"


async def test_a_refused_undecodable_message_still_gets_its_dead_letter():
    out = Outbox()
    await handler(FakePipeline()).refused_record(b"\xff not json", {}, "too large", out)
    letter = orjson.loads(out.messages[0][2])
    assert letter["error"] == "record_too_large" and letter["url"] is None and letter["raw"]


def record_bytes(record: ArticleRecord) -> bytes:
    from workers.pipeline.record import dumps
    return dumps(record)

"""What happens to a URL, independent of Faust: three steps, each one message in, outputs out.

1. :meth:`MessageHandler.route` (URL topic): decode and canonicalise; forward
   the submission to the *submissions* stream keyed by article id, or write one
   dead letter for an unusable message.
2. :meth:`MessageHandler.process` (submissions, keyed by article id): check
   the seen table (:mod:`workers.processing.idempotence`); fetch + CPU stages; give the
   record its version against the article's last one (the *versions* table,
   :mod:`workers.pipeline.revisions`); forward the record to the *records*
   stream keyed by content hash (with its revision, if the content changed, in
   a header), or write one dead letter.  Remembers the outcome in the seen
   table and the new version in the versions table.
3. :meth:`MessageHandler.publish` (records, keyed by content hash): mark a
   record ``duplicate_of`` the first article with the same content; publish
   the record (and its entity messages) to the articles topic, and its revision
   message to the revisions topic: both in one outbox, so one transaction in
   ``exactly_once`` mode.

Each step writes through an :class:`Outbox`: its messages and its state
changes (table entries) are committed together with the input message by the
caller -- in one Kafka transaction in ``exactly_once`` mode, in order and
acknowledged by the broker before the offset in ``at_least_once`` mode.  Every
failure of the pipeline ends in exactly one dead letter; nothing but a bug or
a Kafka failure propagates.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from workers.contract.headers import REVISION_HEADER, SUBMISSION_HEADER, TRACE_HEADER
from workers.errors import ExtractFailed, InvalidMessage, NewswireError, PublishError
from workers.observability.metrics import METRICS, Metrics
from workers.pipeline.record import ArticleRecord, DeadLetter, dead_letter, dumps
from workers.pipeline.revisions import REVISION_SCHEMA_VERSION, ArticleVersion, next_version
from workers.pipeline.submission import Submission, decode_submission, encode_submission
from workers.pipeline.urls import article_id, canonicalize_url
from workers.processing.idempotence import Decision, Outcome, SeenEntry, after_outcome, decide, duplicate_of
from workers.stories.desk import SIGNATURE_HEADER, signature_header

__all__ = [
    "MessageHandler",
    "Outbox",
    "Publisher",
    "Outcome",
    "RecordTooLarge",
    "TRACE_HEADER",
    "SUBMISSION_HEADER",
    "SEEN",
    "HASHES",
    "VERSIONS",
    "REVISION_HEADER",
]

log = logging.getLogger("newswire.handler")

CONTENT_TYPE = b"application/json"
# Faust's producer refuses requests above producer_max_request_size (1,000,000
# bytes); leave room for headers and batch overhead.
DEFAULT_MAX_RECORD_BYTES = 990_000

# State tables (names of the Faust tables in the worker).
SEEN = "seen"
HASHES = "hashes"
VERSIONS = "versions"


class Pipeline(Protocol):
    async def process(self, submission: Submission) -> ArticleRecord: ...


class Publisher(Protocol):
    async def publish(self, role: str, key: bytes, value: bytes, headers: dict[str, bytes]) -> None:
        """Write one message to the topic of ``role``; durable once the input message is committed."""


class Outbox(Publisher, Protocol):
    def remember(self, table: str, key: str, value: bytes) -> None:
        """Set a table entry, committed together with the published messages."""


class RecordTooLarge(PublishError):
    code = "record_too_large"


class MessageHandler:
    def __init__(self, pipeline: Pipeline, *, entities_stream: bool = True, revisions_stream: bool = True,
                 dedupe_window_s: float = 86_400.0,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, process_timeout_s: float | None = None,
                 clock: Callable[[], float] = time.time, metrics: Metrics = METRICS,
                 site_metrics_max: int | None = None, story_desk: bool = False) -> None:
        self.pipeline = pipeline
        # With story clustering on, publish() hands the record to the story desk
        # (workers.stories), which publishes it with its story fields.
        self.story_desk = story_desk
        self.entities_stream = entities_stream
        self.revisions_stream = revisions_stream
        self.dedupe_window_s = dedupe_window_s
        self.max_record_bytes = max_record_bytes
        # A message is finished in offset order: one that never completes would
        # hold back its whole partition, so it gets a deadline and a dead letter.
        self.process_timeout_s = process_timeout_s
        self.clock = clock
        self.metrics = metrics
        if site_metrics_max is not None:
            metrics.sites.limit = site_metrics_max

    # -- 1. route -----------------------------------------------------------

    async def route(self, raw: bytes | None, headers: dict[str, bytes] | None, submission_id: str,
                    out: Publisher) -> str:
        """Forward a usable submission keyed by article id; dead-letter anything else."""
        headers = dict(headers or {})
        trace_id = headers.get(TRACE_HEADER) or uuid.uuid4().hex.encode()
        self.metrics.messages_received.inc()
        try:
            submission = decode_submission(raw)
            ident = article_id(canonicalize_url(submission.url))
        except NewswireError as err:
            url = None
            if not isinstance(err, InvalidMessage):
                url = _url_or_none(raw)
            await self._dead_letter(dead_letter(err, url=url, raw=raw if url is None else None), trace_id, out)
            return Outcome.DEAD_LETTER.value
        await out.publish("submissions", ident.encode(), encode_submission(submission),
                          {TRACE_HEADER: trace_id, SUBMISSION_HEADER: submission_id.encode()})
        return "forwarded"

    # -- 2. process -----------------------------------------------------------

    async def process(self, raw: bytes | None, headers: dict[str, bytes] | None, seen: Mapping[str, bytes],
                      out: Outbox, versions: Mapping[str, bytes] | None = None) -> str:
        """Fetch and analyse a submission unless the seen table says it was already handled.

        ``versions`` (the versions table) holds each article's last version:
        the record gets its ``version``, a changed article its revision, and an
        unchanged ``refresh`` publishes nothing (``Outcome.UNCHANGED``).
        """
        headers = dict(headers or {})
        trace_id = headers.get(TRACE_HEADER) or uuid.uuid4().hex.encode()
        submission_id = _submission_id(headers)
        try:
            submission = decode_submission(raw)
            ident = article_id(canonicalize_url(submission.url))
        except NewswireError as err:  # route() checked this; a bad forward still costs one dead letter
            await self._dead_letter(dead_letter(err, url=None, raw=raw), trace_id, out)
            return Outcome.DEAD_LETTER.value
        entry = SeenEntry.from_bytes(seen.get(ident))
        now = self.clock()
        decision = decide(entry, submission=submission_id, now=now, window_s=self.dedupe_window_s,
                          refresh=submission.refresh)
        if decision is Decision.SKIP_REPLAY:
            log.info("submission already handled; skipped", extra={"id": ident, "url": submission.url})
            return decision.value
        if decision is Decision.SKIP_DUPLICATE:
            self.metrics.duplicates_skipped.inc()
            log.info("URL seen within the dedupe window; not fetched again",
                     extra={"id": ident, "url": submission.url})
            return decision.value
        versions = versions if versions is not None else {}
        outcome = await self._fetch_and_forward(submission, ident, trace_id, out, versions)
        out.remember(SEEN, ident, after_outcome(entry, submission=submission_id, outcome=outcome, now=now).to_bytes())
        return outcome.value

    async def _fetch_and_forward(self, submission: Submission, ident: str, trace_id: bytes, out: Outbox,
                                 versions: Mapping[str, bytes]) -> Outcome:
        with self.metrics.in_flight.track_inprogress():
            try:
                record = await asyncio.wait_for(self.pipeline.process(submission), self.process_timeout_s)
                step = next_version(ArticleVersion.from_bytes(versions.get(ident)), article_id=record.id,
                                    url=record.url, content_hash=record.content_hash, title=record.title,
                                    text=record.text, fetched_at=record.fetched_at)
                if step.unchanged and submission.refresh:
                    return self._unchanged(submission, ident, step.state, out)
                record.version = step.version
                record.previous_content_hash = step.previous_content_hash
                value = dumps(record)
                revision = dumps(step.revision) if step.revision is not None else None
                # The revision rides in a header of the same internal message: it counts against the limit.
                size = len(value) + len(revision or b"")
                if size > self.max_record_bytes:
                    what = f"record of {len(value)} bytes"
                    if revision:
                        what += f" with a revision of {len(revision)}"
                    raise RecordTooLarge(f"{what} exceeds {self.max_record_bytes}")
            except NewswireError as err:
                await self._dead_letter(self._pipeline_failure(err, submission, ident), trace_id, out)
                return Outcome.DEAD_LETTER
            except TimeoutError:
                log.error("pipeline did not finish in time", extra={"url": submission.url,
                                                                   "timeout_s": self.process_timeout_s})
                late = ExtractFailed(f"processing did not finish within {self.process_timeout_s:.0f} s")
                await self._dead_letter(self._pipeline_failure(late, submission, ident), trace_id, out)
                return Outcome.DEAD_LETTER
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must cost one message, not the worker
                log.exception("unexpected error in the pipeline", extra={"url": submission.url})
                bug = NewswireError(f"{type(exc).__name__}: {exc}")
                await self._dead_letter(self._pipeline_failure(bug, submission, ident), trace_id, out)
                return Outcome.DEAD_LETTER
        record_headers = _headers(record.schema_version, trace_id)
        if revision is not None:
            record_headers[REVISION_HEADER] = revision
        await out.publish("records", record.content_hash.encode(), value, record_headers)
        out.remember(VERSIONS, ident, step.state.to_bytes())
        self.metrics.observe_outcome(submission.url, "article")
        self.metrics.observe_record(record.published, record.processed_at)
        return Outcome.RECORD

    def _unchanged(self, submission: Submission, ident: str, state: ArticleVersion, out: Outbox) -> Outcome:
        """A refresh found the content of the last record: nothing is published, the last fetch time is kept."""
        out.remember(VERSIONS, ident, state.to_bytes())
        self.metrics.revisions_unchanged.inc()
        # A success for the site's yield (newswire sites counts every outcome but "article" as a failure).
        self.metrics.observe_outcome(submission.url, "article")
        log.info("refreshed article unchanged; nothing published", extra={"id": ident, "url": submission.url})
        return Outcome.UNCHANGED

    # -- 3. publish -----------------------------------------------------------

    async def publish(self, raw: bytes, headers: dict[str, bytes] | None, hashes: Mapping[str, str],
                      out: Outbox) -> str:
        """Publish a record to the articles topic, marked ``duplicate_of`` an earlier article with its content."""
        headers = dict(headers or {})
        trace_id = headers.get(TRACE_HEADER) or uuid.uuid4().hex.encode()
        record = orjson.loads(raw)
        first, owner = duplicate_of(hashes, record["content_hash"], record["id"])
        if owner:
            out.remember(HASHES, record["content_hash"], record["id"].encode())
        if first is not None:
            record["duplicate_of"] = first
            log.info("same content as an earlier article", extra={"id": record["id"], "duplicate_of": first})
        value = orjson.dumps(record)
        record_headers = _headers(str(record.get("schema_version", "1.0")), trace_id)
        self.metrics.records_published.inc()  # here, once: with the desk, the desk's publish_final writes it
        if self.story_desk:
            # The desk publishes the record; its revision rides along (a header of the internal message),
            # so the desk writes the two together, as this step does without the desk.
            desk_headers = {**record_headers, SIGNATURE_HEADER: signature_header(record.get("text") or "")}
            revision = headers.get(REVISION_HEADER)
            if revision:
                desk_headers[REVISION_HEADER] = revision
            await out.publish("stories", record["id"].encode(), value, desk_headers)
            return Outcome.RECORD.value
        await self.publish_final(record, value, record_headers, headers.get(REVISION_HEADER), trace_id, out)
        return Outcome.RECORD.value

    async def publish_final(self, record: dict[str, Any], value: bytes, record_headers: dict[str, bytes],
                            revision: bytes | None, trace_id: bytes, out: Publisher) -> None:
        """The record, its entity messages and its revision: one outbox (one transaction in exactly_once)."""
        await out.publish("articles", record["id"].encode(), value, record_headers)
        log.info("article published", extra={"id": record["id"], "url": record["url"], "stage": "publish"})
        if self.entities_stream:
            for message_key, message in _entity_messages(record):
                await out.publish("entities", message_key, message, record_headers)
        if revision and self.revisions_stream:
            await out.publish("revisions", record["id"].encode(), revision,
                              _headers(REVISION_SCHEMA_VERSION, trace_id))
            substantive = bool(orjson.loads(revision).get("substantive"))
            self.metrics.revisions_published.labels(substantive=str(substantive).lower()).inc()
            log.info("article revised", extra={"id": record["id"], "version": record.get("version"),
                                               "substantive": substantive})

    # -- an output the broker refused ------------------------------------------

    async def refused_submission(self, raw: bytes | None, headers: dict[str, bytes] | None, detail: str,
                                 out: Outbox, seen: Mapping[str, bytes] | None = None) -> str:
        """Route or process: an output of this submission was refused by Kafka as too large.

        Instead of the refused outputs the submission ends as one dead letter
        ``record_too_large`` (stage ``publish``) for its URL; in the process
        step the seen table remembers that outcome.
        """
        headers = dict(headers or {})
        trace_id = headers.get(TRACE_HEADER) or uuid.uuid4().hex.encode()
        err = RecordTooLarge(f"refused by Kafka: {detail}")
        try:
            submission = decode_submission(raw)
            ident = article_id(canonicalize_url(submission.url))
        except NewswireError:
            await self._dead_letter(dead_letter(err, url=None, raw=raw), trace_id, out)
            return Outcome.DEAD_LETTER.value
        await self._dead_letter(self._failure(err, submission, ident), trace_id, out)
        if seen is not None:
            entry = SeenEntry.from_bytes(seen.get(ident))
            out.remember(SEEN, ident, after_outcome(entry, submission=_submission_id(headers),
                                                    outcome=Outcome.DEAD_LETTER, now=self.clock()).to_bytes())
        return Outcome.DEAD_LETTER.value

    async def refused_record(self, raw: bytes, headers: dict[str, bytes] | None, detail: str, out: Outbox) -> str:
        """Publish: the article record (or one of its entity messages) was refused by Kafka as too large.

        A topic's ``max.message.bytes`` or the broker's ``message.max.bytes``
        can be below what the handler allows, or be lowered while the worker
        runs: the URL then ends as one dead letter ``record_too_large`` instead
        of a record, never silently.
        """
        headers = dict(headers or {})
        trace_id = headers.get(TRACE_HEADER) or uuid.uuid4().hex.encode()
        err = RecordTooLarge(f"refused by Kafka: {detail}")
        try:
            record = orjson.loads(raw)
            url, ident, source = record["url"], record["id"], record.get("source")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await self._dead_letter(dead_letter(err, url=None, raw=raw), trace_id, out)
            return Outcome.DEAD_LETTER.value
        await self._dead_letter(dead_letter(err, url=url, article_id=ident, source=source), trace_id, out)
        return Outcome.DEAD_LETTER.value

    # -- all three in one process (tests, tools) ------------------------------

    async def handle(self, raw: bytes | None, out: Outbox, state: dict[str, dict] | None = None,
                     headers: dict[str, bytes] | None = None, submission_id: str | None = None) -> str:
        """Run route, process and publish back to back through in-memory state."""
        state = state if state is not None else {}
        seen, hashes = state.setdefault(SEEN, {}), state.setdefault(HASHES, {})
        versions = state.setdefault(VERSIONS, {})
        local = _LocalOutbox(out, state)
        result = await self.route(raw, headers, submission_id or f"local:{uuid.uuid4().hex}", local)
        for _, _, value, hdrs in local.take("submissions"):
            result = await self.process(value, hdrs, seen, local, versions)
            for _, _, record, rec_headers in local.take("records"):
                result = await self.publish(record, rec_headers, {k: v.decode() for k, v in hashes.items()}, local)
        return result

    # -- dead letters -----------------------------------------------------------

    def _failure(self, err: NewswireError, submission: Submission, ident: str | None) -> DeadLetter:
        return dead_letter(err, url=submission.url, article_id=ident, source=submission.source)

    def _pipeline_failure(self, err: NewswireError, submission: Submission, ident: str | None) -> DeadLetter:
        """The dead letter of a submission the pipeline tried, counted as its site's outcome."""
        self.metrics.observe_outcome(submission.url, err.error_code)
        return self._failure(err, submission, ident)

    async def _dead_letter(self, letter: DeadLetter, trace_id: bytes, out: Publisher) -> None:
        key = (letter.url or letter.raw or "")[:1024].encode("utf-8", errors="replace")
        await out.publish("deadletter", key, dumps(letter), _headers(letter.schema_version, trace_id))
        self.metrics.dead_letters.labels(stage=letter.stage, error=letter.error).inc()
        log.warning("dead letter", extra={"id": letter.id, "url": letter.url, "stage": letter.stage,
                                          "error": letter.error, "detail": letter.detail})


class _LocalOutbox:
    """Outbox for :meth:`MessageHandler.handle`: internal streams stay in memory, the rest goes to ``out``."""

    def __init__(self, out: Publisher, state: dict[str, dict]) -> None:
        self.out = out
        self.state = state
        self.internal: list[tuple[str, bytes, bytes, dict[str, bytes]]] = []

    async def publish(self, role: str, key: bytes, value: bytes, headers: dict[str, bytes]) -> None:
        if role in ("submissions", "records"):
            self.internal.append((role, key, value, headers))
        else:
            await self.out.publish(role, key, value, headers)

    def remember(self, table: str, key: str, value: bytes) -> None:
        self.state.setdefault(table, {})[key] = value

    def take(self, role: str) -> list[tuple[str, bytes, bytes, dict[str, bytes]]]:
        taken = [m for m in self.internal if m[0] == role]
        self.internal = [m for m in self.internal if m[0] != role]
        return taken


def _submission_id(headers: Mapping[str, bytes]) -> str:
    """The input message a forwarded submission came from (route's header), or a one-off id without it."""
    return headers.get(SUBMISSION_HEADER, b"").decode() or f"untracked:{uuid.uuid4().hex}"


def _url_or_none(raw: bytes | None) -> str | None:
    try:
        return decode_submission(raw).url
    except NewswireError:
        return None


def _headers(schema_version: str, trace_id: bytes) -> dict[str, bytes]:
    return {"schema_version": schema_version.encode(), "content_type": CONTENT_TYPE, TRACE_HEADER: trace_id}


def _entity_messages(record: dict) -> list[tuple[bytes, bytes]]:
    """One message per (article, entity), keyed "LABEL:name" so an entity's messages share a partition."""
    messages = []
    for entity in record.get("entities") or ():
        key = f"{entity['label']}:{entity['name']}".encode()
        messages.append((key, dumps({
            "schema_version": "1.0",
            "article_id": record["id"],
            "url": record["canonical_url"],
            "title": record.get("title"),
            "published": record.get("published"),
            "site_name": record.get("site_name"),
            "language": record.get("language"),
            "name": entity["name"],
            "label": entity["label"],
            "count": entity["count"],
            "salience": entity["salience"],
        })))
    return messages

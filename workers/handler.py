"""What happens to one URL-topic message, independent of Faust.

decode -> pipeline -> publish the record (and its entity messages), or publish
one dead-letter record.  Every failure ends in exactly one output; the only
thing that propagates is a failure to write to Kafka at all, so the message is
not acknowledged and will be redelivered.

The handler talks to Kafka through the small :class:`Publisher` protocol; the
Faust agent provides the real one, unit tests a recording one.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol

from .errors import NewswireError, PublishError
from .metrics import METRICS, Metrics
from .pipeline.record import ArticleRecord, DeadLetter, dead_letter, dumps
from .pipeline.submission import Submission, decode_submission
from .pipeline.urls import article_id, canonicalize_url

__all__ = ["MessageHandler", "Publisher", "Outcome", "TRACE_HEADER"]

log = logging.getLogger("newswire.handler")

TRACE_HEADER = "trace_id"
CONTENT_TYPE = b"application/json"


class Pipeline(Protocol):
    async def process(self, submission: Submission) -> ArticleRecord: ...


class Publisher(Protocol):
    async def publish(self, role: str, key: bytes, value: bytes, headers: dict[str, bytes]) -> None:
        """Send and wait until the broker has acknowledged the message."""


class Outcome:
    RECORD = "record"
    DEAD_LETTER = "dead_letter"


class RecordTooLarge(PublishError):
    code = "record_too_large"


class MessageHandler:
    def __init__(self, pipeline: Pipeline, publisher: Publisher, *, entities_stream: bool = True,
                 metrics: Metrics = METRICS) -> None:
        self.pipeline = pipeline
        self.publisher = publisher
        self.entities_stream = entities_stream
        self.metrics = metrics

    async def handle(self, raw: bytes | None, headers: dict[str, bytes] | None = None) -> str:
        headers = headers or {}
        trace_id = headers.get(TRACE_HEADER) or uuid.uuid4().hex.encode()
        self.metrics.messages_received.inc()
        try:
            submission = decode_submission(raw)
        except NewswireError as err:
            await self._dead_letter(dead_letter(err, url=None, raw=raw), trace_id)
            return Outcome.DEAD_LETTER
        with self.metrics.in_flight.track_inprogress():
            try:
                record = await self.pipeline.process(submission)
            except NewswireError as err:
                await self._dead_letter(self._failure(err, submission), trace_id)
                return Outcome.DEAD_LETTER
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must cost one message, not the worker
                log.exception("unexpected error in the pipeline", extra={"url": submission.url})
                err = NewswireError(f"{type(exc).__name__}: {exc}")
                await self._dead_letter(self._failure(err, submission), trace_id)
                return Outcome.DEAD_LETTER
            try:
                await self._publish_record(record, trace_id)
            except RecordTooLarge as err:
                await self._dead_letter(self._failure(err, submission), trace_id)
                return Outcome.DEAD_LETTER
        return Outcome.RECORD

    def _failure(self, err: NewswireError, submission: Submission) -> DeadLetter:
        try:
            ident = article_id(canonicalize_url(submission.url))
        except NewswireError:
            ident = None
        return dead_letter(err, url=submission.url, article_id=ident, source=submission.source)

    async def _publish_record(self, record: ArticleRecord, trace_id: bytes) -> None:
        headers = _headers(record.schema_version, trace_id)
        value = dumps(record)
        try:
            await self.publisher.publish("articles", record.id.encode(), value, headers)
        except Exception as exc:
            if type(exc).__name__ in {"MessageSizeTooLargeError", "RecordTooLargeError"}:
                raise RecordTooLarge(f"record of {len(value)} bytes refused by the broker") from None
            raise
        self.metrics.records_published.inc()
        log.info("article published", extra={"id": record.id, "url": record.url, "stage": "publish"})
        if self.entities_stream:
            for message_key, message in _entity_messages(record):
                await self.publisher.publish("entities", message_key, message, headers)

    async def _dead_letter(self, letter: DeadLetter, trace_id: bytes) -> None:
        key = (letter.url or letter.raw or "")[:1024].encode("utf-8", errors="replace")
        await self.publisher.publish("deadletter", key, dumps(letter), _headers(letter.schema_version, trace_id))
        self.metrics.dead_letters.labels(stage=letter.stage, error=letter.error).inc()
        log.warning("dead letter", extra={"id": letter.id, "url": letter.url, "stage": letter.stage,
                                          "error": letter.error, "detail": letter.detail})


def _headers(schema_version: str, trace_id: bytes) -> dict[str, bytes]:
    return {"schema_version": schema_version.encode(), "content_type": CONTENT_TYPE, TRACE_HEADER: trace_id}


def _entity_messages(record: ArticleRecord) -> list[tuple[bytes, bytes]]:
    """One message per (article, entity), keyed "LABEL:name" so an entity's messages share a partition."""
    messages = []
    for entity in record.entities:
        key = f"{entity.label}:{entity.name}".encode()
        messages.append((key, dumps({
            "schema_version": "1.0",
            "article_id": record.id,
            "url": record.canonical_url,
            "title": record.title,
            "published": record.published,
            "site_name": record.site_name,
            "language": record.language,
            "name": entity.name,
            "label": entity.label,
            "count": entity.count,
            "salience": entity.salience,
        })))
    return messages

"""The story desk's two halves, without Kafka.

1. In the publish step (any worker, partitioned by content hash):
   :func:`signature_header` computes the record's MinHash signature (the CPU
   part, spread over the workers) and the record goes, with that header, to the
   internal ``stories`` stream instead of the articles topic.
2. :class:`StoryDesk` (the ``stories`` stream has ONE partition, so one agent in
   the group sees every record in one order): looks the signature up in the
   story index, sets ``story_id``, ``near_duplicate_of`` and ``similarity`` and
   publishes the final article record.  The index writes go into the same
   outbox as the record, so they commit together (one transaction in
   ``exactly_once``).

The first record to reach the desk starts a story; which one that is does not
depend on which worker fetched it.  The single partition bounds throughput
(docs/stories.md has the measured figure and the path to scale out).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import orjson

from workers.contract.headers import REVISION_HEADER, TRACE_HEADER
from workers.errors import PublishError
from workers.pipeline.record import dead_letter, dumps

from .index import Store, StoryIndex
from .minhash import PERMUTATIONS, Signature, signature
from .shingles import shingle_hashes

__all__ = ["SIGNATURE_HEADER", "STORIES", "StoryDesk", "signature_header", "signature_from_header"]

log = logging.getLogger("newswire.stories")

#: Header carrying the record's signature from the publish step to the desk.
SIGNATURE_HEADER = "newswire_minhash"
#: Name of the story index table (and the committer's key for its changelog entries).
STORIES = "stories"


class Outbox(Protocol):
    async def publish(self, role: str, key: bytes, value: bytes | None, headers: dict[str, bytes]) -> None: ...

    def remember(self, table: str, key: str | bytes, value: bytes | None) -> None: ...


def text_signature(text: str) -> Signature:
    return signature(shingle_hashes(text))


def signature_header(text: str) -> bytes:
    """The header value: shingle count (4 bytes, little-endian) then the signature."""
    sig = text_signature(text)
    return sig.shingles.to_bytes(4, "little") + sig.to_bytes()


def signature_from_header(raw: bytes | None) -> Signature | None:
    if raw is None or len(raw) != 4 + 4 * PERMUTATIONS:
        return None
    return Signature.from_bytes(raw[4:], int.from_bytes(raw[:4], "little"))


#: Writes the final record and what rides with it: (record, its bytes, headers, revision or None, trace id, outbox).
FinalPublish = Callable[[dict[str, Any], bytes, dict[str, bytes], "bytes | None", bytes, Any], Awaitable[None]]


class StoryDesk:
    def __init__(self, index: StoryIndex, *, clock: Callable[[], float] = time.time,
                 on_assigned: Callable[[str], None] | None = None, publish: FinalPublish | None = None) -> None:
        self.index = index
        self.clock = clock
        self.on_assigned = on_assigned  # called with "started", "joined" or "unindexed" (metrics)
        # Writes the final record with what rides with it (entity messages, its revision) into the
        # outbox: the handler's publish_final in the worker; the record alone without one.
        self.publish = publish

    async def place(self, raw: bytes | None, headers: Mapping[str, bytes], store: Store, out: Outbox) -> str:
        """Assign the record's story and publish it; an unreadable record becomes one dead letter."""
        out_headers = {k: v for k, v in headers.items() if k not in (SIGNATURE_HEADER, REVISION_HEADER)}
        record: Any = None
        try:
            record = orjson.loads(raw or b"")
            article_id, text = record["id"], record.get("text") or ""
            sig = signature_from_header(headers.get(SIGNATURE_HEADER)) or text_signature(text)
            assignment, writes = self.index.assign(store, article_id, sig, self.clock())
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            await self._dead_letter(raw, record, exc, out_headers, out)
            return "dead_letter"
        for key, value in writes.items():
            out.remember(STORIES, key, value)
        record["story_id"] = assignment.story_id
        record["near_duplicate_of"] = assignment.near_duplicate_of
        record["similarity"] = assignment.similarity
        value = orjson.dumps(record)
        if self.publish is not None:
            await self.publish(record, value, out_headers, headers.get(REVISION_HEADER),
                               headers.get(TRACE_HEADER, b""), out)
        else:
            await out.publish("articles", article_id.encode(), value, out_headers)
        if assignment.near_duplicate_of:
            outcome = "joined"
        elif sig.shingles < self.index.min_shingles:
            outcome = "unindexed"
        else:
            outcome = "started"
        if self.on_assigned is not None:
            self.on_assigned(outcome)
        if assignment.near_duplicate_of:
            log.info("near duplicate of an earlier article", extra={
                "id": article_id, "near_duplicate_of": assignment.near_duplicate_of,
                "story_id": assignment.story_id, "similarity": assignment.similarity})
        return outcome

    async def _dead_letter(self, raw: bytes | None, record: Any, exc: Exception, headers: dict[str, bytes],
                           out: Outbox) -> None:
        err = PublishError(f"story desk could not read the record: {type(exc).__name__}: {exc}")
        url = record.get("url") if isinstance(record, dict) else None
        url = url if isinstance(url, str) else None
        ident = record.get("id") if isinstance(record, dict) and isinstance(record.get("id"), str) else None
        letter = dead_letter(err, url=url, raw=None if url else raw, article_id=ident)
        key = (letter.url or letter.raw or "")[:1024].encode("utf-8", errors="replace")
        await out.publish("deadletter", key, dumps(letter), headers)
        log.error("unreadable record on the stories stream", extra={"stage": "publish", "error": str(exc)})

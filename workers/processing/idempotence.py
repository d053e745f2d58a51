"""Idempotence decisions, without Kafka: the seen-URL window and the content-hash index.

Two pieces of state back these decisions, both Faust tables in the worker
(see :mod:`workers.worker.agents`) and plain dicts in the unit tests:

* the **seen** table, keyed by article id (the hash of the canonical URL), one
  :class:`SeenEntry` per article: when it was last turned into a record, and
  which submission was handled last.  The submissions stream is repartitioned
  by article id before it reaches this table, so every worker owns the entries
  of exactly the articles it processes.
* the **hashes** table, keyed by ``content_hash``: the id of the first article
  that had this content.  The records stream is repartitioned by content hash
  before it reaches this table, for the same reason.

What a submission yields (:func:`decide`):

* a *replay* -- the very submission that was already handled (same
  ``submission_id``: input topic, partition and offset), redelivered after a
  crash or a rebalance -- yields nothing: its outputs were already written;
* a *repeat* -- the same canonical URL submitted again while its last record
  is younger than the window -- yields nothing either (no fetch, no record;
  ``newswire_duplicates_skipped_total`` counts it);
* anything else is processed: a new URL, a URL whose record is older than the
  window (a fresh record replaces the old one; the articles topic is compacted
  by id), and a URL whose last outcome was a dead letter (failures are often
  transient, so a resubmission tries again).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import orjson

__all__ = [
    "Decision",
    "Outcome",
    "SeenEntry",
    "decide",
    "after_outcome",
    "duplicate_of",
    "submission_id",
]


class Decision(enum.StrEnum):
    PROCESS = "process"
    SKIP_REPLAY = "skip_replay"        # this exact submission was already handled
    SKIP_DUPLICATE = "skip_duplicate"  # same canonical URL, record younger than the window


class Outcome(enum.StrEnum):
    RECORD = "record"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class SeenEntry:
    """What the seen table remembers about one article id."""

    submission: str             # id of the last submission handled for this article
    outcome: str                # Outcome value of that submission
    recorded_at: float | None   # epoch seconds of the last record (None: never a record)

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> SeenEntry | None:
        if not raw:
            return None
        try:
            data = orjson.loads(raw)
            return cls(submission=str(data["submission"]), outcome=str(data["outcome"]),
                       recorded_at=data.get("recorded_at"))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None  # an unreadable entry must not block the article: process it again


def submission_id(topic: str, partition: int, offset: int) -> str:
    """The identity of one input message: stable across redeliveries, distinct for a resubmission."""
    return f"{topic}:{partition}:{offset}"


def decide(entry: SeenEntry | None, *, submission: str, now: float, window_s: float) -> Decision:
    if entry is None:
        return Decision.PROCESS
    if entry.submission == submission:
        return Decision.SKIP_REPLAY
    if entry.recorded_at is not None and window_s > 0 and now - entry.recorded_at < window_s:
        return Decision.SKIP_DUPLICATE
    return Decision.PROCESS


def after_outcome(entry: SeenEntry | None, *, submission: str, outcome: Outcome, now: float) -> SeenEntry:
    """The entry to store once a processed submission's outputs are written.

    A dead letter keeps the time of an earlier record: the window still
    protects an article that was recorded once and failed on a later fetch.
    """
    if outcome is Outcome.RECORD:
        return SeenEntry(submission=submission, outcome=outcome.value, recorded_at=now)
    recorded_at = entry.recorded_at if entry is not None else None
    return SeenEntry(submission=submission, outcome=outcome.value, recorded_at=recorded_at)


def duplicate_of(hashes: Mapping[str, str], content_hash: str, article_id: str) -> tuple[str | None, bool]:
    """(id this article duplicates, whether ``hashes`` must record ``article_id`` as the first).

    The first article with a content hash owns it; a later article with the
    same content is a duplicate of the first.  The first article seen again
    (a newer fetch, or a replay) is not a duplicate of itself.
    """
    first = hashes.get(content_hash)
    if first is None:
        return None, True
    if first == article_id:
        return None, False
    return first, False

"""The story index: which earlier article a new one nearly duplicates, kept in a key/value store.

The index lives entirely in the store it is given (on the stream: the story
desk's Faust table, whose changelog rebuilds it after a restart; in tests: a
dict), so nothing has to be rebuilt besides the table itself.  Entries (keys
are bytes, ids are the 16 bytes of a 32-hex article id):

* ``a`` + id -> :class:`Entry`: the article's story, what it nearly duplicates,
  when it was added, its shingle count and its MinHash signature;
* ``b`` + band key -> the ids of the first ``BUCKET_MAX`` articles with that band
  (one match per story is enough: later copies of a story match its early ones);
* ``t`` + hour + n -> the id of the n-th article added in that hour, and
  ``n`` + hour -> how many were added in it (the order of ageing out; one small
  entry per article, so no value grows with the traffic);
* ``c`` -> hour and n of the next article to age out (the ageing cursor).

Every value is bounded (at most 560 bytes), so no changelog message grows
with the traffic or the window.

:meth:`StoryIndex.assign` reads the store and returns the assignment with the
writes that go with it; the caller commits those writes with the article
record (one outbox), so the index and the published records never disagree.
Assignment is deterministic for a given store and arrival order, and
idempotent: an article already in the index gets its stored assignment again
(a redelivered message, or a later version of the same article).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Protocol

from .minhash import BANDS, PERMUTATIONS, ROWS, Signature, band_keys, overlap

__all__ = ["Assignment", "Entry", "StoryIndex", "Store", "SIMILARITY_THRESHOLD", "MIN_SHINGLES", "BUCKET_MAX"]

#: Least estimated overlap (share of the shorter text's shingles found in the
#: other) for two articles to be one story.  Measured (benchmarks/syndication.py,
#: docs/stories.md): syndicated copies with the edits of the issue score 0.62-1.0,
#: distinct reports of the same event at most 0.2.
SIMILARITY_THRESHOLD = 0.5
#: Texts with fewer distinct shingles are too short to tell a copy from a
#: coincidence (a caption, a one-line brief): they start their own story.
MIN_SHINGLES = 25
#: Article ids kept per band bucket.
BUCKET_MAX = 8
#: Candidates checked against the full signature, most shared bands first.
CANDIDATES_MAX = 32
#: Articles aged out per assignment at most, so one message never carries an unbounded write set.
EXPIRE_PER_STEP = 64

_ENTRY = struct.Struct("<16s16sdfI")
_HOUR_S = 3600.0


class Store(Protocol):
    def get(self, key: bytes, default: bytes | None = None) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Assignment:
    story_id: str
    near_duplicate_of: str | None
    similarity: float | None


@dataclass(frozen=True, slots=True)
class Entry:
    story_id: str
    near_duplicate_of: str | None
    similarity: float | None
    added_at: float
    signature: Signature

    def to_bytes(self) -> bytes:
        similarity = math.nan if self.similarity is None else self.similarity
        near = bytes.fromhex(self.near_duplicate_of) if self.near_duplicate_of else bytes(16)
        return _ENTRY.pack(bytes.fromhex(self.story_id), near, self.added_at, similarity,
                           self.signature.shingles) + self.signature.to_bytes()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Entry:
        story, near, added_at, similarity, shingles = _ENTRY.unpack_from(raw)
        return cls(story.hex(), near.hex() if any(near) else None,
                   None if math.isnan(similarity) else round(similarity, 3), added_at,
                   Signature.from_bytes(raw[_ENTRY.size:], shingles))

    @property
    def assignment(self) -> Assignment:
        return Assignment(self.story_id, self.near_duplicate_of, self.similarity)


Writes = dict[bytes, "bytes | None"]


class _Overlay:
    """The store as this assignment's own writes left it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.writes: Writes = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.store.get(key)

    def set(self, key: bytes, value: bytes | None) -> None:
        self.writes[key] = value


class StoryIndex:
    def __init__(self, *, window_s: float = 7 * 86_400.0, threshold: float = SIMILARITY_THRESHOLD,
                 min_shingles: int = MIN_SHINGLES, bands: int = BANDS, rows: int = ROWS,
                 bucket_max: int = BUCKET_MAX) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if bands * rows > PERMUTATIONS:
            raise ValueError("bands x rows exceeds the signature length")
        self.window_s = window_s
        self.threshold = threshold
        self.min_shingles = min_shingles
        self.bands = bands
        self.rows = rows
        self.bucket_max = bucket_max

    def assign(self, store: Store, article_id: str, sig: Signature, now: float) -> tuple[Assignment, Writes]:
        """The story of ``article_id`` and the store writes that record it (commit them with the record)."""
        ident = bytes.fromhex(article_id)
        if len(ident) != 16:
            raise ValueError(f"article id must be 32 hex digits: {article_id!r}")
        view = _Overlay(store)
        self._age_out(view, now)
        known = view.get(b"a" + ident)
        if known is not None:
            return Entry.from_bytes(known).assignment, view.writes
        if sig.shingles < self.min_shingles:
            return Assignment(article_id, None, None), view.writes
        keys = band_keys(sig, self.bands, self.rows)
        assignment = self._match(view, keys, sig) or Assignment(article_id, None, None)
        entry = Entry(assignment.story_id, assignment.near_duplicate_of, assignment.similarity, now, sig)
        view.set(b"a" + ident, entry.to_bytes())
        for key in keys:
            bucket = view.get(b"b" + key) or b""
            if len(bucket) < 16 * self.bucket_max:
                view.set(b"b" + key, bucket + ident)
        self._log_arrival(view, ident, now)
        return assignment, view.writes

    def _log_arrival(self, view: _Overlay, ident: bytes, now: float) -> None:
        cursor = view.get(b"c")
        hour = _hour(now)
        if cursor is None:
            view.set(b"c", hour + _u32(0))
        elif hour < cursor[:4]:
            hour = cursor[:4]  # a clock behind the cursor: log it where ageing out will still find it
        count = int.from_bytes(view.get(b"n" + hour) or bytes(4), "big")
        view.set(b"t" + hour + _u32(count), ident)
        view.set(b"n" + hour, _u32(count + 1))

    def _match(self, view: _Overlay, keys: list[bytes], sig: Signature) -> Assignment | None:
        shared: dict[bytes, int] = {}
        for key in keys:
            bucket = view.get(b"b" + key) or b""
            for start in range(0, len(bucket), 16):
                candidate = bucket[start:start + 16]
                shared[candidate] = shared.get(candidate, 0) + 1
        best: tuple[float, float, bytes, Entry] | None = None
        # Most shared bands first; ties by id, so the choice never depends on dict order.
        for candidate in sorted(shared, key=lambda c: (-shared[c], c))[:CANDIDATES_MAX]:
            raw = view.get(b"a" + candidate)
            if raw is None:
                continue
            entry = Entry.from_bytes(raw)
            similarity = round(overlap(sig, entry.signature), 3)
            if similarity < self.threshold:
                continue
            # The most similar earlier article; among equals the earliest, then the smallest id.
            rank = (-similarity, entry.added_at, candidate, entry)
            if best is None or rank[:3] < best[:3]:
                best = rank
        if best is None:
            return None
        similarity, entry = -best[0], best[3]
        return Assignment(entry.story_id, best[2].hex(), similarity)

    def _age_out(self, view: _Overlay, now: float) -> None:
        """Remove up to EXPIRE_PER_STEP articles added in hours before ``now - window_s``, oldest first."""
        cursor_raw = view.get(b"c")
        if cursor_raw is None:
            return
        hour, position = int.from_bytes(cursor_raw[:4], "big"), int.from_bytes(cursor_raw[4:], "big")
        limit = int.from_bytes(_hour(now - self.window_s), "big")
        budget = EXPIRE_PER_STEP
        while hour < limit and budget > 0:
            key = _u32(hour)
            count = int.from_bytes(view.get(b"n" + key) or bytes(4), "big")
            while position < count and budget > 0:
                ident = view.get(b"t" + key + _u32(position))
                if ident is not None:
                    self._remove(view, ident)
                    view.set(b"t" + key + _u32(position), None)
                position += 1
                budget -= 1
            if position < count:
                break
            if view.get(b"n" + key) is not None:
                view.set(b"n" + key, None)
            hour, position = hour + 1, 0
        cursor = _u32(hour) + _u32(position)
        if cursor != cursor_raw:
            view.set(b"c", cursor)

    def _remove(self, view: _Overlay, ident: bytes) -> None:
        raw = view.get(b"a" + ident)
        if raw is None:
            return
        entry = Entry.from_bytes(raw)
        for key in band_keys(entry.signature, self.bands, self.rows):
            bucket = view.get(b"b" + key)
            if not bucket:
                continue
            kept = b"".join(bucket[i:i + 16] for i in range(0, len(bucket), 16) if bucket[i:i + 16] != ident)
            view.set(b"b" + key, kept or None)
        view.set(b"a" + ident, None)


def _hour(at: float) -> bytes:
    return _u32(int(max(at, 0.0) // _HOUR_S))


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")

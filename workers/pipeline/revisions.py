"""Article revisions, without Kafka: what changed between two versions of one article.

The process step keeps the last version of every article (:class:`ArticleVersion`,
in the ``versions`` table keyed by article id) and, when a new fetch of the
article yields other content, compares the two with :func:`diff_versions`:

* the text is split into paragraphs (the record's blocks are joined by blank
  lines) and the two lists are aligned in order on exact (normalised) matches;
* an unmatched old paragraph and an unmatched new one that share most of their
  words (:data:`EDIT_MIN_WORD_OVERLAP`) are one *edited* paragraph -- a typo
  fix or a reworded sentence -- not a removal plus an addition;
* ``change_ratio`` is the share of the text's characters that changed:
  ``1 - 2 * matched / (old + new)`` over all paragraphs, where an edited
  paragraph contributes the characters its two versions share in order
  (difflib's definition of similarity, applied paragraph by paragraph);
* a revision is **substantive** when the headline changed, a paragraph was
  added or removed, or ``change_ratio`` exceeds
  :data:`SUBSTANTIVE_CHANGE_RATIO` (0.05, i.e. more than 5 % of the text
  rewritten inside existing paragraphs).  A one-character fix changes far less
  than that in any real article and is not substantive.

The stored version keeps the hash, version number, title, fetch time and the
paragraphs (zlib-compressed): the revision message names the removed
paragraphs by their text, which paragraph fingerprints alone cannot give.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import zlib
from dataclasses import dataclass, field

import orjson

__all__ = [
    "ArticleVersion",
    "EDIT_MIN_WORD_OVERLAP",
    "REVISION_SCHEMA_VERSION",
    "Revision",
    "RevisionDiff",
    "SUBSTANTIVE_CHANGE_RATIO",
    "diff_versions",
    "next_version",
    "normalise",
    "paragraphs",
]

REVISION_SCHEMA_VERSION = "1.0"

#: A revision is substantive above this share of changed text (besides a new headline or paragraph).
SUBSTANTIVE_CHANGE_RATIO = 0.05
#: An old and a new paragraph sharing at least this share of their words (Jaccard) are one edited paragraph.
EDIT_MIN_WORD_OVERLAP = 0.5

#: Replaced runs of words longer than this (both versions together) count as changed without a character diff.
_CHAR_DIFF_MAX = 2_000
#: How far (in paragraphs, beyond the net number added or removed) an edited paragraph may move.
_PAIR_BAND = 10
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_STATE_FORMAT = b"v1:"  # prefix of a stored version: zlib-compressed JSON follows


def normalise(text: str | None) -> str:
    """Unicode NFKC, whitespace collapsed: re-rendered spacing is not a change (as in content_hash)."""
    return " ".join(unicodedata.normalize("NFKC", text or "").split())


def paragraphs(text: str) -> list[str]:
    """The record text's paragraphs, normalised, empty ones dropped."""
    return [p for p in (normalise(part) for part in _PARAGRAPH_BREAK.split(text or "")) if p]


@dataclass(frozen=True, slots=True)
class ArticleVersion:
    """The last version of one article, as the process step remembers it."""

    version: int
    content_hash: str
    title: str | None
    fetched_at: str
    paragraphs: tuple[str, ...] = ()
    previous_content_hash: str | None = None

    def to_bytes(self) -> bytes:
        body = orjson.dumps({"version": self.version, "content_hash": self.content_hash, "title": self.title,
                             "fetched_at": self.fetched_at, "paragraphs": list(self.paragraphs),
                             "previous_content_hash": self.previous_content_hash})
        return _STATE_FORMAT + zlib.compress(body, 6)

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> ArticleVersion | None:
        """The stored version, or None (nothing stored, or an entry this code cannot read: start afresh)."""
        if not raw or not raw.startswith(_STATE_FORMAT):
            return None
        try:
            data = orjson.loads(zlib.decompress(raw[len(_STATE_FORMAT):]))
            return cls(version=int(data["version"]), content_hash=str(data["content_hash"]), title=data.get("title"),
                       fetched_at=str(data.get("fetched_at") or ""),
                       paragraphs=tuple(str(p) for p in data.get("paragraphs") or ()),
                       previous_content_hash=data.get("previous_content_hash"))
        except (zlib.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class RevisionDiff:
    """What changed between two versions' titles and paragraphs."""

    title_changed: bool
    paragraphs_added: list[str]
    paragraphs_removed: list[str]
    paragraphs_edited: int
    change_ratio: float

    @property
    def substantive(self) -> bool:
        return (self.title_changed or bool(self.paragraphs_added) or bool(self.paragraphs_removed)
                or self.change_ratio > SUBSTANTIVE_CHANGE_RATIO)


@dataclass(slots=True)
class Revision:
    """One message of the revisions topic (``schemas/revision.v1.json``), keyed by article id."""

    id: str
    url: str
    version: int
    previous_version: int
    fetched_at: str
    content_hash: str
    previous_content_hash: str
    title_before: str | None
    title_after: str | None
    title_changed: bool
    paragraphs_added: list[str]
    paragraphs_removed: list[str]
    change_ratio: float
    substantive: bool
    schema_version: str = REVISION_SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class VersionStep:
    """What a new fetch of an article means: its record's version, the state to store, the revision if any."""

    version: int
    previous_content_hash: str | None
    state: ArticleVersion
    unchanged: bool = False
    revision: Revision | None = field(default=None)


def next_version(previous: ArticleVersion | None, *, article_id: str, url: str, content_hash: str,
                 title: str | None, text: str, fetched_at: str) -> VersionStep:
    """The version a freshly fetched article gets against the last one stored.

    * nothing stored: version 1, no revision;
    * same content hash and headline: the same version (``unchanged``; the
      caller decides whether to publish it again), the stored state only gets
      the new fetch time;
    * other content, or the same text under a new headline (content_hash covers
      the text only, and a rewritten headline is the revision users ask about
      first): version + 1 and its :class:`Revision`.
    """
    current = paragraphs(text)
    if previous is None:
        state = ArticleVersion(1, content_hash, title, fetched_at, tuple(current))
        return VersionStep(1, None, state)
    if previous.content_hash == content_hash and normalise(previous.title) == normalise(title):
        state = ArticleVersion(previous.version, content_hash, title, fetched_at, tuple(current),
                               previous.previous_content_hash)
        return VersionStep(previous.version, previous.previous_content_hash, state, unchanged=True)
    diff = diff_versions(previous.title, list(previous.paragraphs), title, current)
    version = previous.version + 1
    state = ArticleVersion(version, content_hash, title, fetched_at, tuple(current), previous.content_hash)
    revision = Revision(
        id=article_id, url=url, version=version, previous_version=previous.version, fetched_at=fetched_at,
        content_hash=content_hash, previous_content_hash=previous.content_hash,
        title_before=previous.title, title_after=title, title_changed=diff.title_changed,
        paragraphs_added=diff.paragraphs_added, paragraphs_removed=diff.paragraphs_removed,
        change_ratio=diff.change_ratio, substantive=diff.substantive)
    return VersionStep(version, previous.content_hash, state, revision=revision)


def diff_versions(title_before: str | None, before: list[str], title_after: str | None,
                  after: list[str]) -> RevisionDiff:
    """Compare two versions' titles and (normalised) paragraph lists; see the module docstring."""
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    added: list[str] = []
    removed: list[str] = []
    edited = 0
    matched_chars = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            matched_chars += sum(len(p) for p in before[i1:i2])
            continue
        old, new = before[i1:i2], after[j1:j2]
        pairs = _pair_edits(old, new)
        edited += len(pairs)
        for i, j in pairs:
            matched_chars += _common_chars(old[i], new[j])
        paired_old = {i for i, _ in pairs}
        paired_new = {j for _, j in pairs}
        removed += [p for i, p in enumerate(old) if i not in paired_old]
        added += [p for j, p in enumerate(new) if j not in paired_new]
    total = sum(map(len, before)) + sum(map(len, after))
    ratio = 0.0 if total == 0 else 1.0 - 2.0 * matched_chars / total
    return RevisionDiff(title_changed=normalise(title_before) != normalise(title_after),
                        paragraphs_added=added, paragraphs_removed=removed, paragraphs_edited=edited,
                        change_ratio=round(min(1.0, max(0.0, ratio)), 4))


def _words(text: str) -> set[str]:
    return set(text.casefold().split())


def _pair_edits(old: list[str], new: list[str]) -> list[tuple[int, int]]:
    """Pairs (old index, new index) of paragraphs that are edits of each other, in order, best overlap first."""
    if not old or not new:
        return []
    old_words = [_words(p) for p in old]
    new_words = [_words(p) for p in new]
    # Edits keep their order, so a pair (i, j) lies near the diagonal, shifted by at most the paragraphs
    # added or removed around it: compare within that band only (linear, not quadratic, in long articles).
    low, high = min(0, len(new) - len(old)) - _PAIR_BAND, max(0, len(new) - len(old)) + _PAIR_BAND
    candidates = []
    for i, a in enumerate(old_words):
        for j in range(max(0, i + low), min(len(new), i + high + 1)):
            b = new_words[j]
            union = len(a | b)
            overlap = len(a & b) / union if union else 1.0
            if overlap >= EDIT_MIN_WORD_OVERLAP:
                candidates.append((overlap, i, j))
    pairs: list[tuple[int, int]] = []
    used_old: set[int] = set()
    used_new: set[int] = set()
    for _, i, j in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        if i in used_old or j in used_new:
            continue
        # Keep the pairs in order: an edit never swaps two paragraphs' places.
        if any((i < pi) != (j < pj) for pi, pj in pairs):
            continue
        pairs.append((i, j))
        used_old.add(i)
        used_new.add(j)
    return sorted(pairs)


def _common_chars(a: str, b: str) -> int:
    """Characters two versions of a paragraph share (difflib's matched characters, computed in two steps).

    Words first, then characters only inside the replaced runs of words: a
    character diff of whole long paragraphs costs tens of milliseconds each
    on the event loop (every paragraph of an article can change at once, e.g.
    new typography), while a typo must still count as the characters it
    changed, not its whole word.
    """
    words_a, words_b = a.split(), b.split()
    common = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, words_a, words_b, autojunk=False).get_opcodes():
        if tag == "equal":
            common += sum(len(word) + 1 for word in words_a[i1:i2])
        elif tag == "replace":
            old, new = " ".join(words_a[i1:i2]), " ".join(words_b[j1:j2])
            if len(old) + len(new) <= _CHAR_DIFF_MAX:
                matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
                common += sum(m.size for m in matcher.get_matching_blocks())
    return min(common, len(a), len(b))

"""Dedupe stage: the article once, without the template's repetitions.

Rules, applied in document order (text compared by ``normalise``: NFKC,
case-folded, punctuation/quotes/dashes/whitespace ignored).  "The title" is
the headline plus the other forms the page declares it in (``alt_titles``:
og:title, JSON-LD headline, <h1>, <title> without the site).

* **title repeats** (``title_repeats``): a block that is the title; the title
  cut short with an ellipsis ("Blinken seeks to advance Gaza..."); the title
  behind a lead-in ("Read more: <title>", "ALSO READ | <title>"); the title
  with a short site/section affix ("<title> | The Daily Ledger"); a heading
  that is the title plus a kicker of at most 8 words, or the title reworded
  by at most two words; a short paragraph that is a 6+ word title plus at most
  6 words (a caption); the title opening a longer block when a line break,
  separator, byline or date follows it (the title is cut, the text kept); a
  line of a multi-line block that is the title (breadcrumbs, sticky bars).
* **duplicate headings** (``duplicate_headings``): a repeated heading goes
  only with evidence that it is template: it labels nothing (nothing or
  another heading follows it), its whole section repeats the section under
  its first occurrence, or (4+ words) it restates an earlier paragraph.  A
  short heading over new text ("Lunch", "Day 2", "Q:") under each of several
  parts is the article's structure and stays.  A table of contents (a list
  whose every line is a heading of the article) is dropped, counted once per
  line.
* **duplicate paragraphs** (``duplicate_paragraphs``): a block identical to
  the block right before it when it has 5+ words (or is a heading); a
  paragraph of 30+ words repeated verbatim anywhere; a run of three or more
  consecutive blocks repeating an earlier run *and holding a 20+ word prose
  paragraph* (a hidden second copy of the page); and a *pull quote*: a short
  quote block whose whole text also appears inside a paragraph of the article
  (the magazine device of repeating a sentence in large type).

A repeat is removed only with such positive evidence, never merely because it
occurred before: structured articles repeat short lines by design (a meal
plan's "Eat every 2-3 hours" under each meal, recipes, schedules, "Final:"
lines of sports results, Q&A labels), and a sentence repeated in two
paragraphs, a refrain, the title's words inside a sentence are the article's
own.  Every removal is also recorded with its rule (``DedupeResult.removals``,
shown by ``newswire extract --explain``).

Where each count goes in the published record: all three keys are published
as they are (``removed.title_repeats`` / ``duplicate_headings`` /
``duplicate_paragraphs``); ``removed.boilerplate_blocks`` is
``ExtractedArticle.boilerplate_blocks`` from the extraction stage.  "Read
more: <other headline>" lines are removed by the extraction stage
(boilerplate), while "Read more: <this article's headline>" is left to this
stage and counted as a title repeat.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from workers.pipeline.extract import Block, ExtractedArticle, Removal
from workers.pipeline.extract.text import normalise, word_count

__all__ = ["DedupeResult", "dedupe_article", "dedupe_blocks", "is_title_repeat"]

_ELLIPSIS = re.compile(r"(?:\.\s*\.\s*\.|…)\s*[\"'”’»)]*\s*$")
# "Read more: X", "ALSO READ | X", "Related » X", "Watch - X" ... up to four words then a separator
_LEADIN = re.compile(r"^\s*[^\W\d_][\w'’ ]{0,40}?\s*(?::|\||»|›|>>|→|–|—|-)\s*(?P<rest>.+)$", re.DOTALL)
# "<title> | Site", "Site » <title>", "<title> :: Site", "<title>: Site", "Home / News / <title>"
_SUFFIX_SPLIT = re.compile(r"\s+(?:::|[|–—·•»›>/:~]|-{1,2})\s+|(?<=\w)[:：]\s+")
# Words of the tool bars that sit beside a sticky title: "<title> Share Tweet Email"
_TOOL_WORDS = frozenset((
    "share", "shares", "tweet", "email", "e", "mail", "print", "comment", "comments", "save", "facebook",
    "twitter", "x", "linkedin", "whatsapp", "reddit", "pinterest", "copy", "link", "listen", "follow",
    "subscribe", "menu", "close", "search", "top", "next", "previous",
))
# Ellipsis prefixes shorter than this are too generic to be called the title.
_MIN_PREFIX_WORDS = 4
_MAX_AFFIX_WORDS = 6
_PULL_QUOTE_MAX_WORDS = 60
# A heading that contains the title plus at most this many words is the title
# with a kicker/section ("Milan Design Week 2018 | <title>").
_MAX_KICKER_WORDS = 8
# A whole paragraph of at least this many words repeated verbatim anywhere is a
# template copy (hidden mobile/AMP duplicate of the body), not writing.
_LONG_PARAGRAPH_WORDS = 30
# The title at the start of a longer block is cut when what follows it cannot
# continue the headline as a sentence: a line break, a separator, a byline, a date.
_AFTER_TITLE = re.compile(
    r"^(?:\s*\n|\s*[|:–—•·»-]|\s+(?:by|von|par|por|door|di)\s|\s+\d|\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d)",
    re.IGNORECASE,
)
_RAW_WORD = re.compile(r"[^\W_]+")
# Three consecutive blocks repeated verbatim are a copy of the page, whatever their length.
_RUN = 3
# ... and one of them must be a prose paragraph this long (see ``_repeated_runs``).
_RUN_PROSE_WORDS = 20
# A block identical to the one right before it is a rendering double when it has
# at least this many words; shorter ones ("Repeat.", "Rest 60 seconds") can be the text's own.
_CONSECUTIVE_MIN_WORDS = 5


@dataclass(slots=True)
class DedupeResult:
    blocks: list[Block]
    removed: dict[str, int] = field(
        default_factory=lambda: {"title_repeats": 0, "duplicate_headings": 0, "duplicate_paragraphs": 0}
    )
    # each removed block (or removed part of one) with the rule that removed it
    removals: list[Removal] = field(default_factory=list)

    def drop(self, count: str, rule: str, block_type: str, text: str, n: int = 1) -> None:
        self.removed[count] += n
        self.removals.append(Removal("dedupe", rule, block_type, text))


def is_title_repeat(text: str, title_key: str) -> bool:
    """True when ``text`` is only the title (or a cut/lead-in/suffixed form of it)."""
    if not title_key:
        return False
    key = normalise(text)
    if not key:
        return False
    if key == title_key:
        return True
    # the title with tool-bar words around it (a sticky bar flattened into one block)
    if title_key in key:
        rest = f" {key} ".replace(f" {title_key} ", " ", 1).split()
        if rest and len(rest) <= 8 and all(w in _TOOL_WORDS or w.isdigit() for w in rest):
            return True
    # "Headline..." / "Headline…": a cut-off prefix of the title
    if _ELLIPSIS.search(text):
        cut = normalise(_ELLIPSIS.sub("", text))
        if cut and title_key.startswith(cut) and len(cut.split()) >= min(_MIN_PREFIX_WORDS, len(title_key.split())):
            return True
    # "Read more: Headline" (possibly itself cut with an ellipsis)
    m = _LEADIN.match(text)
    if m and word_count(text[: m.start("rest")]) <= 4 and is_title_repeat(m.group("rest"), title_key):
        return True
    # "Headline | Site" / "Section - Headline"
    parts = _SUFFIX_SPLIT.split(text)
    if len(parts) > 1:
        for i, part in enumerate(parts):
            if normalise(part) == title_key:
                affix = " ".join(parts[:i] + parts[i + 1 :])
                if word_count(affix) <= _MAX_AFFIX_WORDS:
                    return True
    return False


def _contains_title(text: str, title_key: str, block_type: str) -> bool:
    """A heading (or a short paragraph, for long titles) that is the title plus a kicker."""
    title_words = len(title_key.split())
    if title_words < 3:
        return False
    key = normalise(text)
    if f" {title_key} " not in f" {key} ":
        if block_type == "heading" and title_words >= 4:
            # the same headline reworded slightly: every title word present, few others
            words = key.split()
            title_set = set(title_key.split())
            extra_words = [w for w in words if w not in title_set]
            return title_set <= set(words) and len(extra_words) <= 2
        return False
    extra = len(key.split()) - title_words
    if block_type == "heading":
        return extra <= _MAX_KICKER_WORDS
    return title_words >= 6 and extra <= 6 and block_type == "paragraph"


def cut_leading_title(text: str, title_key: str) -> str | None:
    """``text`` without a leading title (see ``_AFTER_TITLE``), or None if it does not start with it."""
    if len(title_key.split()) < 4:
        return None
    acc = ""
    for m in _RAW_WORD.finditer(text):
        tokens = normalise(m.group()).split()
        acc = f"{acc} {' '.join(tokens)}".strip()
        if acc == title_key:
            rest = text[m.end() :]
            if not _AFTER_TITLE.match(rest):
                return None
            rest = rest.lstrip(" \t\n|:–—•·»-")
            return rest if _RAW_WORD.search(rest) else None
        if not title_key.startswith(acc):
            return None
    return None


def _repeated_runs(keys: list[str]) -> set[int]:
    """Indices of blocks in a run of ``_RUN`` or more consecutive blocks that repeats
    an earlier run verbatim and holds a prose paragraph: a second copy of (part of)
    the page, not writing.  Runs of short lines repeat by design in structured
    articles (a meal plan's "Portion: 1 cup" under each meal, a schedule, results),
    so a run of short blocks is never evidence of a copy."""
    first_seen: dict[tuple[str, ...], int] = {}
    repeated: set[int] = set()
    for i in range(len(keys) - _RUN + 1):
        window = tuple(keys[i : i + _RUN])
        if not all(window) or max(len(k.split()) for k in window) < _RUN_PROSE_WORDS:
            continue
        earlier = first_seen.get(window)
        if earlier is None:
            first_seen[window] = i
        elif earlier + _RUN <= i:
            repeated.update(range(i, i + _RUN))
    return repeated


def _section_keys(blocks: list[Block], heading_index: int) -> list[str]:
    """Keys of the blocks under a heading, up to the next heading."""
    keys = []
    for block in blocks[heading_index + 1 :]:
        if block.type == "heading":
            break
        keys.append(normalise(block.text))
    return keys


def _is_template_heading_repeat(blocks: list[Block], index: int, key: str, seen_headings: dict[str, int]) -> bool:
    """A repeated heading is template only with evidence: it restates an earlier
    paragraph (a pull-out), it labels nothing (nothing or another heading follows),
    or its whole section repeats the section under its first occurrence (a copy).
    A short heading that labels new text ("Lunch", "Day 2", "Q:", "Final") under
    each of several parts is the article's structure and stays, even when some
    lines under it repeat too (a meal plan's "Eat every 2-3 hours")."""
    first = seen_headings.get(key)
    if first is None:
        return len(key.split()) >= 4  # only seen as a paragraph: a pull-out heading
    section = _section_keys(blocks, index)
    return not section or section == _section_keys(blocks, first)


def _paragraph_keys(blocks: list[Block]) -> list[str]:
    return [normalise(b.text) for b in blocks if b.type in ("paragraph", "list", "table")]


def _is_any_title(text: str, keys: list[str], block_type: str, max_words: int) -> bool:
    # a block much longer than every title form cannot be one (cheap exit for prose)
    if word_count(text) > max_words:
        return False
    return any(is_title_repeat(text, k) or _contains_title(text, k, block_type) for k in keys)


def dedupe_blocks(blocks: list[Block], title: str | None, *, alt_titles: Iterable[str] = ()) -> DedupeResult:
    """Remove the template's repetitions from ``blocks`` (see the module doc).

    ``alt_titles`` are other forms in which the page declares its headline
    (``ExtractedArticle.title_variants``); their repeats count as title repeats.
    """
    result = DedupeResult(blocks=[])
    keys: list[str] = []
    for text in (title, *alt_titles):
        key = normalise(text) if text else ""
        if key and key not in keys:
            keys.append(key)
    # longest title form + a kicker / lead-in / site affix
    max_words = max((len(k.split()) for k in keys), default=0) + _MAX_KICKER_WORDS + 4

    # 1. title repeats: whole blocks, a title heading a longer block, single lines
    stage1: list[Block] = []
    for block in blocks:
        if keys and _is_any_title(block.text, keys, block.type, max_words):
            result.drop("title_repeats", "title-repeat", block.type, block.text)
            continue
        block_key = normalise(block.text)
        for key in keys:
            if not block_key.startswith(key + " "):
                continue  # cheap exit: the block does not open with this title form
            rest = cut_leading_title(block.text, key)
            if rest is not None:
                removed = block.text[: len(block.text) - len(rest)]
                result.drop("title_repeats", "title-leading-block", block.type, removed)
                block = Block(block.type, rest)
                break
        if keys and block.type != "table" and "\n" in block.text:
            lines = block.text.split("\n")
            kept = [line for line in lines if not _is_any_title(line, keys, "line", max_words)]
            if len(kept) < len(lines):
                for line in lines:
                    if line not in kept:
                        result.drop("title_repeats", "title-line", block.type, line)
                if not kept:
                    continue
                block = Block(block.type, "\n".join(kept))
        stage1.append(block)

    # 2. tables of contents: a list whose every line is a later heading
    heading_keys = {normalise(b.text) for b in stage1 if b.type == "heading"}
    stage2: list[Block] = []
    for block in stage1:
        if block.type == "list" and heading_keys:
            lines = [normalise(line) for line in block.text.split("\n") if line.strip()]
            if len(lines) >= 2 and all(line in heading_keys for line in lines):
                result.drop("duplicate_headings", "table-of-contents", block.type, block.text, len(lines))
                continue
        stage2.append(block)

    # 3. repeated runs, repeated headings, consecutive duplicate blocks, pull quotes
    repeated_run = _repeated_runs([normalise(b.text) for b in stage2])
    paragraph_keys = _paragraph_keys(stage2)
    seen: set[str] = set()
    seen_long: set[str] = set()
    seen_headings: dict[str, int] = {}  # heading key -> index (in stage2) of its first occurrence
    out: list[Block] = []
    previous_key: str | None = None
    for index, block in enumerate(stage2):
        key = normalise(block.text)
        if index in repeated_run:
            result.drop("duplicate_paragraphs", "repeated-run", block.type, block.text)
            continue
        if block.type == "heading" and key in seen and _is_template_heading_repeat(stage2, index, key, seen_headings):
            result.drop("duplicate_headings", "duplicate-heading", block.type, block.text)
            continue
        if key and key == previous_key and (block.type == "heading" or len(key.split()) >= _CONSECUTIVE_MIN_WORDS):
            result.drop("duplicate_paragraphs", "consecutive-duplicate", block.type, block.text)
            continue
        if key in seen_long:
            result.drop("duplicate_paragraphs", "long-paragraph-repeat", block.type, block.text)
            continue
        if (
            block.type == "quote"
            and key
            and word_count(block.text) <= _PULL_QUOTE_MAX_WORDS
            and any(f" {key} " in f" {p} " and key != p for p in paragraph_keys)
        ):
            result.drop("duplicate_paragraphs", "pull-quote", block.type, block.text)
            continue
        seen.add(key)
        if block.type == "heading":
            seen_headings.setdefault(key, index)
        if block.type != "heading" and len(key.split()) >= _LONG_PARAGRAPH_WORDS:
            seen_long.add(key)
        out.append(block)
        previous_key = key
    result.blocks = out
    return result


def dedupe_article(article: ExtractedArticle) -> DedupeResult:
    """``dedupe_blocks`` with everything the extraction stage knows about the headline:
    the chosen title and the other forms the page declares it in."""
    return dedupe_blocks(article.blocks, article.title, alt_titles=article.title_variants)

"""Extraction stage: decoded HTML -> ordered article blocks + metadata.

trafilatura finds the article body (comments off, tables and formatting on,
links kept so link lists can be recognised); this module then

1. turns its XML into typed blocks (heading / paragraph / quote / list / table);
   when that text looks incomplete (far shorter than the page's own prose) a
   readability candidate is read too and chosen by signals
   (``_candidates``),
2. drops template blocks it lets through (share bars, comment forms,
   newsletter and cookie prompts, "Read more"/"Related" sections, bylines
   and datelines repeated in the body); their number is
   ``ExtractedArticle.boilerplate_blocks`` and each one, with the rule that
   removed it, is in ``ExtractedArticle.removals``.  Rules that are judgement
   calls (click-here lines, copyright notices, prompts with an address) remove
   only generic lines and at most 5% of the text: when in doubt, keep
   (``_boilerplate``),
3. reads metadata from the same parsed tree (see ``_meta``).

Repetitions of the headline and duplicate headings are *not* removed here:
that is the dedupe stage (``workers.pipeline.dedupe``), so each count lands
in exactly one place.

The page is parsed once; trafilatura works on its own copy of that tree.
Everything here is pure and the result is plain dataclasses (picklable), so
it runs unchanged inside a process pool.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from workers.errors import EmptyText, ExtractFailed

from ._blocks import RawBlock, Removal, body_to_blocks
from ._boilerplate import strip_boilerplate
from ._candidates import (
    choose_blocks,
    looks_incomplete,
    page_prose,
    readability_candidate,
)
from ._meta import PageMeta, read_metadata
from .text import normalise

__all__ = ["Block", "BlockType", "ExtractedArticle", "Removal", "extract_article", "render_text"]

BlockType = Literal["heading", "paragraph", "quote", "list", "table"]

# trafilatura logs every discarded page at WARNING; in a worker that is noise
# (the dead-letter record already says why).
logging.getLogger("trafilatura").setLevel(logging.ERROR)
logging.getLogger("htmldate").setLevel(logging.ERROR)


# Comments off (reader comments are not the article); tables kept; links kept in
# the XML only so link lists can be recognised (they never reach the text);
# metadata is read by _meta from the same tree, faster.
_TRAFILATURA_OPTIONS: dict[str, Any] = {
    "include_comments": False,
    "include_tables": True,
    "include_formatting": True,
    "include_links": True,
    "include_images": False,
    "output_format": "xml",
    "with_metadata": False,
}


@dataclass(slots=True)
class Block:
    type: BlockType
    text: str  # list items joined by "\n"; table rows joined by "\n", cells by " | "


@dataclass(slots=True)
class ExtractedArticle:
    title: str | None
    blocks: list[Block]
    authors: list[str]
    # ISO 8601: "2024-02-07T09:30:00+00:00" when the page gives time and offset, else "2024-02-07"
    published: str | None
    site_name: str | None
    language: str | None
    description: str | None
    canonical_url: str | None
    tags: list[str]
    image: str | None
    boilerplate_blocks: int
    # extra, optional: other forms the page declares its headline in (og:title, JSON-LD
    # headline, <h1>, <title> without the site); dedupe removes repeats of these too
    title_variants: list[str] = field(default_factory=list)
    # each block the boilerplate rules removed, with its rule (``newswire extract --explain``)
    removals: list[Removal] = field(default_factory=list)
    # the blocks trafilatura returned, before any cleaning; filled only when asked for
    # (``extract_article(..., keep_base=True)``: the harm measurement and --explain)
    base_blocks: list[Block] | None = None
    # which extraction the blocks come from: "default", or a fallback chosen because
    # the default looked incomplete (see ``_choose_candidate``)
    candidate: str = "default"


# Below this much non-heading text a page has no article (a lone nav label, "Home").
_MIN_TEXT_CHARS = 20


def render_text(blocks: list[Block]) -> str:
    """The published text: blocks' text joined by blank lines."""
    return "\n\n".join(block.text for block in blocks if block.text)


# Words that make up datelines and bylines in the languages we see most; a short
# block made only of these, numbers and the author's name restates the metadata.
_DATELINE_WORDS = frozenset(
    """
    by von par por door di da de del do dos das le la el il am um em en on at à às a the of
    updated update published posted last modified first created edited written
    publicado publicada atualizado atualizada actualizado actualizada por em
    publié mis jour modifié aktualisiert veröffentlicht erstellt stand pubblicato aggiornato
    am pm gmt utc bst cet cest est edt cst cdt mst mdt pst pdt ist amt jst kst aest msk et pt ct mt
    jan january feb february mar march apr april may jun june jul july aug august sep sept september
    oct october nov november dec december
    janeiro fevereiro março marco abril maio junho julho agosto setembro outubro novembro dezembro
    enero febrero marzo mayo junio julio septiembre setiembre octubre noviembre diciembre
    janvier février fevrier mars avril mai juin juillet août aout septembre octobre novembre décembre
    januar februar märz maerz juni juli oktober dezember
    gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre
    mon monday tue tues tuesday wed wednesday thu thur thurs thursday fri friday sat saturday sun sunday
    segunda terça terca quarta quinta sexta sábado sabado domingo feira
    lunes martes miércoles miercoles jueves viernes
    lundi mardi mercredi jeudi vendredi samedi dimanche
    montag dienstag mittwoch donnerstag freitag samstag sonntag
    lunedì martedì mercoledì giovedì venerdì
    hours hour minutes minute ago h min
    """.split()  # noqa: SIM905 - a word list reads better as words
)
_DATE_SHAPE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}:\d{2}|\b(?:19|20)\d{2}\b")


def _is_byline_or_dateline(block: RawBlock, meta: PageMeta) -> bool:
    """A short body block that only restates the byline and/or the date."""
    if block.type not in ("paragraph", "heading", "list") or block.words > 14:
        return False
    if block.type == "list" and block.items > 1:
        return False
    words = normalise(block.text).split()
    if not words:
        return False
    author_words = {w for author in meta.authors for w in normalise(author).split()}
    has_author = bool(author_words) and any(w in author_words for w in words)
    has_date = bool(_DATE_SHAPE.search(block.text))
    leftover = [
        w for w in words if w not in author_words and w not in _DATELINE_WORDS and not any(ch.isdigit() for ch in w)
    ]
    if not (has_author or has_date):
        return False
    if not leftover:
        return True
    # "기사입력 : 2018-09-28 17:32", "Publié le 3 mars 2019": one unknown label word beside a date
    if has_date and len(leftover) == 1 and len(words) <= 8:
        return True
    # "5:45 AM PST 11/19/2019 by Jane Doe": an unknown name after "by" next to a date
    return has_date and "by" in words and len(leftover) <= 4 and words.index("by") < len(words) - 1


_MIN_ENTRY_STAMPS = 3
_MIN_ENTRY_WORDS = 8


def _names_author(block: RawBlock, meta: PageMeta) -> bool:
    author_words = {w for author in meta.authors for w in normalise(author).split()}
    return bool(author_words & set(normalise(block.text).split()))


def _to_blocks(raw: list[RawBlock]) -> list[Block]:
    return [Block(b.type, b.text) for b in raw]  # type: ignore[arg-type]


def extract_article(
    html: str, url: str | None = None, *, fast: bool = False, keep_base: bool = False
) -> ExtractedArticle:
    """Extract the article in ``html`` (already decoded).

    ``fast`` skips trafilatura's second opinion (its readability/jusText
    comparison): about twice the throughput, and on the DEV pages the same
    quality, but the comparison is what rescues an odd layout, so it is off by
    default.

    ``keep_base`` also returns the blocks as trafilatura gave them, before the
    cleaning rules (``ExtractedArticle.base_blocks``).

    Raises ``EmptyText`` when the page has no article text and
    ``ExtractFailed`` when it cannot be parsed; never anything else.
    """
    if not isinstance(html, str) or not html.strip():
        raise EmptyText("empty document")
    try:
        return _extract(html, url, fast, keep_base)
    except (EmptyText, ExtractFailed):
        raise
    except RecursionError as exc:  # absurdly deep markup
        raise ExtractFailed(f"document nesting too deep: {exc}") from exc
    except Exception as exc:  # any parser/extractor bug becomes one dead-letter code
        raise ExtractFailed(f"{type(exc).__name__}: {exc}") from exc


def _extract(html: str, url: str | None, fast: bool, keep_base: bool) -> ExtractedArticle:
    from trafilatura import bare_extraction
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        raise ExtractFailed("document could not be parsed as HTML")

    meta = read_metadata(tree, url)

    # url=None: trafilatura would only use it to absolutise every link, which we
    # never publish (and which costs ~5% of the extraction)
    document = bare_extraction(tree, url=None, fast=fast, **_TRAFILATURA_OPTIONS)
    body = getattr(document, "body", None)  # a Document (never a dict: as_dict is not used)
    if body is None:
        raise EmptyText("no article text found")

    raw = body_to_blocks(body)
    candidate = "default"
    if looks_incomplete(raw, page_prose(tree)):
        raw, candidate = choose_blocks(raw, readability_candidate(tree), tree)
    title_keys = tuple(normalise(t) for t in (meta.title, *meta.title_variants) if t)
    base_blocks = _to_blocks(raw) if keep_base else None
    removals: list[Removal] = []
    raw, _ = strip_boilerplate(raw, title_keys, removals)
    datelines = [_is_byline_or_dateline(block, meta) for block in raw]
    # a dateline appears once or twice; three or more time stamps each followed by text are
    # the entries of a liveblog or timeline: the article's structure, kept (unless they name the author)
    entry_stamps = sum(
        is_dateline and index + 1 < len(raw) and not datelines[index + 1] and raw[index + 1].words >= _MIN_ENTRY_WORDS
        for index, is_dateline in enumerate(datelines)
    ) >= _MIN_ENTRY_STAMPS
    kept: list[RawBlock] = []
    for block, is_dateline in zip(raw, datelines, strict=True):
        if is_dateline and not (entry_stamps and not _names_author(block, meta)):
            removals.append(Removal("boilerplate", "byline-or-dateline", block.type, block.text))
        else:
            kept.append(block)
    if sum(len(b.text) for b in kept if b.type != "heading") < _MIN_TEXT_CHARS:
        raise EmptyText("no article text left after boilerplate removal")

    return ExtractedArticle(
        title=meta.title,
        blocks=_to_blocks(kept),
        authors=meta.authors,
        published=meta.published,
        site_name=meta.site_name,
        language=meta.language,
        description=meta.description,
        canonical_url=meta.canonical_url,
        tags=meta.tags,
        image=meta.image,
        boilerplate_blocks=len(removals),
        title_variants=meta.title_variants,
        removals=removals,
        base_blocks=base_blocks,
        candidate=candidate,
    )

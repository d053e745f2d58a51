"""Extraction stage: decoded HTML -> ordered article blocks + metadata.

trafilatura finds the article body (comments off, tables and formatting on,
links kept so link lists can be recognised); this module then

1. turns its XML into typed blocks (heading / paragraph / quote / list / table),
2. drops template blocks it lets through (share bars, comment forms,
   newsletter and cookie prompts, "Read more"/"Related" sections, bylines
   and datelines repeated in the body); their number is
   ``ExtractedArticle.boilerplate_blocks``,
3. reads metadata from the same parsed tree (see ``_extract_meta``).

Repetitions of the headline and duplicate headings are *not* removed here:
that is the dedupe stage (``workers.pipeline.dedupe``), so each count lands
in exactly one place.

The page is parsed once; trafilatura works on its own copy of that tree.
Everything here is pure and the result is plain dataclasses (picklable), so
it runs unchanged inside a process pool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from workers.errors import EmptyText, ExtractFailed
from workers.pipeline._extract_blocks import RawBlock, body_to_blocks
from workers.pipeline._extract_boilerplate import strip_boilerplate
from workers.pipeline._extract_meta import PageMeta, read_metadata
from workers.pipeline._extract_text import normalise, word_count

__all__ = ["BlockType", "Block", "ExtractedArticle", "extract_article", "render_text"]

BlockType = Literal["heading", "paragraph", "quote", "list", "table"]

# trafilatura logs every discarded page at WARNING; in a worker that is noise
# (the dead-letter record already says why).
logging.getLogger("trafilatura").setLevel(logging.ERROR)
logging.getLogger("htmldate").setLevel(logging.ERROR)


# Comments off (reader comments are not the article); tables kept; links kept in
# the XML only so link lists can be recognised (they never reach the text);
# metadata is read by _extract_meta from the same tree, faster.
_TRAFILATURA_OPTIONS: dict[str, object] = {
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
    published: str | None  # ISO 8601 date (YYYY-MM-DD)
    site_name: str | None
    language: str | None
    description: str | None
    canonical_url: str | None
    tags: list[str]
    image: str | None
    boilerplate_blocks: int
    # extra, optional: the declared publication datetime with offset when the page gives a time
    published_at: str | None = None


def render_text(blocks: list[Block]) -> str:
    """The published text: blocks' text joined by blank lines."""
    return "\n\n".join(block.text for block in blocks if block.text)


def _is_byline_or_dateline(block: RawBlock, meta: PageMeta) -> bool:
    """A short body block that only restates the byline or the date."""
    if block.type not in ("paragraph", "heading") or word_count(block.text) > 12:
        return False
    key = normalise(block.text)
    for author in meta.authors:
        name = normalise(author)
        if name and (key == name or key == f"by {name}" or (key.startswith("by ") and name in key)):
            return True
    return False


def _to_blocks(raw: list[RawBlock]) -> list[Block]:
    return [Block(b.type, b.text) for b in raw]  # type: ignore[arg-type]


def extract_article(html: str, url: str | None = None) -> ExtractedArticle:
    """Extract the article in ``html`` (already decoded).

    Raises ``EmptyText`` when the page has no article text and
    ``ExtractFailed`` when it cannot be parsed; never anything else.
    """
    if not isinstance(html, str) or not html.strip():
        raise EmptyText("empty document")
    try:
        return _extract(html, url)
    except (EmptyText, ExtractFailed):
        raise
    except RecursionError as exc:  # absurdly deep markup
        raise ExtractFailed(f"document nesting too deep: {exc}") from exc
    except Exception as exc:  # any parser/extractor bug becomes one dead-letter code
        raise ExtractFailed(f"{type(exc).__name__}: {exc}") from exc


def _extract(html: str, url: str | None) -> ExtractedArticle:
    from trafilatura import bare_extraction
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        raise ExtractFailed("document could not be parsed as HTML")

    meta = read_metadata(tree, url)

    document = bare_extraction(tree, url=url, **_TRAFILATURA_OPTIONS)
    if document is None or document.body is None:
        raise EmptyText("no article text found")

    raw = body_to_blocks(document.body)
    raw, removed = strip_boilerplate(raw, normalise(meta.title) if meta.title else "")
    kept: list[RawBlock] = []
    for block in raw:
        if _is_byline_or_dateline(block, meta):
            removed += 1
        else:
            kept.append(block)
    if not any(b.type != "heading" for b in kept):
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
        boilerplate_blocks=removed,
        published_at=meta.published_at,
    )

"""The CPU-bound half of the pipeline: decode -> extract -> dedupe -> enrich -> record.

:func:`analyse_page` runs inside the worker processes of :mod:`workers.pipeline.pool`
(or inline, for ``newswire extract``).  It takes the fetched bytes plus the few
fetch facts the record needs and returns the finished :class:`ArticleRecord`,
so each page is decoded and parsed once, in one process, and only bytes in and
one record out cross the process boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from ..errors import ExtractFailed, NewswireError
from .charset import decode_html
from .dedupe import dedupe_article
from .entities import EntityConfig, get_recognizer
from .extract import extract_classified, render_text
from .record import ArticleRecord, content_hash
from .urls import article_id

__all__ = ["PageInput", "AnalyseOptions", "analyse_page"]


@dataclass(frozen=True, slots=True)
class AnalyseOptions:
    entities: EntityConfig = EntityConfig()


@dataclass(slots=True)
class PageInput:
    """What the fetch stage (or a local file) hands to the CPU stages."""

    body: bytes
    url: str
    canonical_url: str
    final_url: str
    fetched_at: str
    http_status: int = 200
    charset: str | None = None
    source: str | None = None
    submitted_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def analyse_page(page: PageInput, options: AnalyseOptions,
                 timings: dict[str, float] | None = None) -> ArticleRecord:
    """Build the record for one page; ``timings`` (if given) receives seconds per stage."""
    try:
        return _analyse(page, options, timings if timings is not None else {})
    except NewswireError:
        raise
    except Exception as exc:  # a bug or a parser crash must not take the worker down
        raise ExtractFailed(f"{type(exc).__name__}: {exc}"[:500]) from None


def _analyse(page: PageInput, options: AnalyseOptions, timings: dict[str, float]) -> ArticleRecord:
    clock = perf_counter()
    html, _encoding = decode_html(page.body, page.charset)
    # the page classified first: a bot wall, a shell or an index is a dead letter, not an "article"
    classified = extract_classified(html, page.final_url or page.url, own_urls=(page.url, page.canonical_url))
    article = classified.article
    timings["extract"], clock = perf_counter() - clock, perf_counter()
    deduped = dedupe_article(article)
    text = render_text(deduped.blocks)
    timings["dedupe"], clock = perf_counter() - clock, perf_counter()
    enrichment = get_recognizer(options.entities).enrich(article.title, text, article.language)
    timings["enrich"] = perf_counter() - clock
    removed = {
        "title_repeats": deduped.removed.get("title_repeats", 0),
        "duplicate_headings": deduped.removed.get("duplicate_headings", 0),
        "duplicate_paragraphs": deduped.removed.get("duplicate_paragraphs", 0),
        "boilerplate_blocks": article.boilerplate_blocks + deduped.removed.get("boilerplate_blocks", 0),
    }
    metadata = page.metadata or {}
    return ArticleRecord(
        id=article_id(page.canonical_url),
        url=page.url,
        canonical_url=page.canonical_url,
        final_url=page.final_url,
        fetched_at=page.fetched_at,
        http_status=page.http_status,
        title=article.title,
        authors=article.authors,
        published=article.published,
        site_name=article.site_name,
        language=enrichment.language or article.language,
        language_confidence=round(enrichment.language_confidence, 4),
        description=article.description,
        tags=article.tags,
        image=article.image,
        text=text,
        word_count=len(text.split()),
        blocks=deduped.blocks,
        entities=enrichment.entities,
        facts=enrichment.facts,
        entities_status=enrichment.status,
        removed=removed,
        content_hash=content_hash(text),
        source=page.source,
        submitted_at=page.submitted_at,
        metadata=metadata,
        feed_title=_str_or_none(metadata.get("title")),
        feed_published=_str_or_none(metadata.get("published")),
        paywalled=classified.paywalled,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

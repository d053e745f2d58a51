"""What the cleaning stages removed from a page, and why (``newswire extract --explain``).

The extraction stage's boilerplate rules and the dedupe stage each record the
blocks they remove with the name of the rule (``Removal``); this module runs
both on one page and lays the removals beside the text trafilatura returned,
so a rule that deletes article text can be seen and named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workers.errors import NewswireError
from workers.pipeline.charset import decode_html
from workers.pipeline.dedupe import dedupe_article
from workers.pipeline.extract import Block, Removal, extract_article, render_text
from workers.pipeline.runner import read_page_file

__all__ = ["Explanation", "explain_extraction", "explain_inputs", "format_explanation"]


@dataclass(slots=True)
class Explanation:
    base_text: str  # what the base extractor returned, before any cleaning
    text: str  # the published text
    blocks: list[Block]  # the published blocks
    removals: list[Removal]  # boilerplate removals first, then dedupe's, each in document order
    candidate: str  # which extraction was used ("default", "recall", ...)


def explain_extraction(html: str, url: str | None = None, *, fast: bool = False) -> Explanation:
    """Extract and dedupe ``html`` keeping every removal; raises what ``extract_article`` raises."""
    article = extract_article(html, url, fast=fast, keep_base=True)
    deduped = dedupe_article(article)
    return Explanation(
        base_text=render_text(article.base_blocks or []),
        text=render_text(deduped.blocks),
        blocks=deduped.blocks,
        removals=[*article.removals, *deduped.removals],
        candidate=article.candidate,
    )


def _shorten(text: str, limit: int = 160) -> str:
    flat = " / ".join(line.strip() for line in text.split("\n") if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def format_explanation(explanation: Explanation, source: str = "") -> str:
    """Human-readable listing: one line per removed block, its stage, rule and text."""
    removed_chars = sum(len(r.text) for r in explanation.removals)
    lines = [
        f"# {source}".rstrip(),
        f"# extraction used: {explanation.candidate}; base text {len(explanation.base_text)} chars, "
        f"published {len(explanation.text)} chars, {len(explanation.removals)} block(s) removed "
        f"({removed_chars} chars)",
    ]
    for removal in explanation.removals:
        lines.append(f"- [{removal.stage}:{removal.rule}] {removal.type}: {_shorten(removal.text)}")
    return "\n".join(lines)


async def _read(item: str, settings: object) -> tuple[bytes, str | None, str]:
    """The page's bytes, declared charset and URL: fetched for an http(s) URL, read for a file."""
    if "://" in item:
        from workers.pipeline.fetch import FetchConfig, Fetcher
        from workers.pipeline.urls import canonicalize_url

        fetcher = Fetcher(FetchConfig.from_settings(settings))  # type: ignore[arg-type]
        try:
            page = await fetcher.fetch(canonicalize_url(item))
        finally:
            await fetcher.close()
        return page.body, page.charset, page.final_url
    path = Path(item)
    return read_page_file(path), None, path.resolve().as_uri()


async def explain_inputs(items: list[str], settings: object) -> tuple[str, int]:
    """``newswire extract --explain``: the listing for each input, and how many failed."""
    out: list[str] = []
    failed = 0
    for item in items:
        try:
            body, charset, url = await _read(item, settings)
            html, _ = decode_html(body, charset)
            out.append(format_explanation(explain_extraction(html, url), item))
        except NewswireError as err:
            failed += 1
            out.append(f"# {item}\n# failed: {type(err).__name__}: {err}")
    return "\n\n".join(out), failed

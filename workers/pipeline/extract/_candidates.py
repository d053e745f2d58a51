"""A second extraction when trafilatura's looks incomplete.

trafilatura sometimes stops early: at the first subheading, at an inline box,
or it picks one section of a long article.  A cheap signal flags those pages:
the extracted text is far shorter than the page's own prose (the text of its
long ``<p>`` elements outside navigation, header, footer, asides and forms).
Only then a readability-style candidate (trafilatura's bundled
readability-lxml) is extracted, and it replaces trafilatura's blocks only when
it is clearly the better reading: it is substantially longer *and* it keeps
almost every paragraph trafilatura found, so it extends the article instead
of picking a different part of the page.  The boilerplate and dedupe rules run
on whichever is chosen.

On pages that look complete (nearly all of them) this costs one pass over the
``<p>`` elements.
"""

from __future__ import annotations

import re
from copy import deepcopy

from lxml.etree import _Element

from ._blocks import RawBlock, body_to_blocks
from .text import element_text, normalise

__all__ = ["choose_blocks", "looks_incomplete", "page_prose", "page_prose_chars", "readability_candidate"]


# A <p> shorter than this is a caption, label or teaser, not prose.
_MIN_PROSE_P_CHARS = 80
_NOT_ARTICLE = frozenset({"nav", "header", "footer", "aside", "form", "menu", "noscript"})
# Reader comments and sidebars are long prose too, but not the article's.
_CHROME_NAMES = re.compile(r"comment|sidebar|related|footer|disqus|reply|replies")
# Too little prose on the page to say the extraction missed any of it.
_MIN_PAGE_PROSE_CHARS = 1500
# The extraction looks incomplete below this share of the page's prose.
_INCOMPLETE_SHARE = 0.6
# ... or prose it lacks, after the last paragraph it has, is this long (and this share of it).
_MIN_MISSING_CHARS = 500
_MISSING_SHARE = 0.3
_MATCH_CHARS = 80
# The candidate must bring at least this much more text ...
_MIN_GAIN = 1.3
# ... and keep at least this share of the (substantial) blocks trafilatura found.
_MIN_COVERAGE = 0.8
_SUBSTANTIAL_WORDS = 8
# Blocks the candidate adds to trafilatura's must be prose paragraphs this long.
_PROSE_WORDS = 20


def _is_chrome(element: _Element) -> bool:
    """Navigation, header, footer, asides, forms, and containers named as comments or sidebars."""
    tag = element.tag
    if not isinstance(tag, str):
        return False
    if tag in _NOT_ARTICLE:
        return True
    names = f"{element.get('class', '')} {element.get('id', '')}".lower()
    return bool(names.strip()) and _CHROME_NAMES.search(names) is not None


def page_prose(tree: _Element) -> list[str]:
    """The page's prose paragraphs in order: long ``<p>`` outside page chrome."""
    out = []
    for p in tree.iter("p"):
        text = " ".join(element_text(p).split())
        if len(text) < _MIN_PROSE_P_CHARS:
            continue
        if any(_is_chrome(a) for a in p.iterancestors()):
            continue
        out.append(text)
    return out


def page_prose_chars(tree: _Element) -> int:
    """Characters of the page's prose paragraphs."""
    return sum(len(text) for text in page_prose(tree))


def looks_incomplete(blocks: list[RawBlock], prose: list[str]) -> bool:
    """The extraction is far shorter than the page's prose, or it stops early: prose
    paragraphs it lacks follow the last one it has (a body cut at a subheading or box)."""
    extracted = sum(len(b.text) for b in blocks)
    total = sum(len(text) for text in prose)
    if total < _MIN_PAGE_PROSE_CHARS:
        return False
    if extracted < _INCOMPLETE_SHARE * total:
        return True
    extracted_key = " " + " ".join(normalise(b.text) for b in blocks) + " "
    found = [normalise(text)[:_MATCH_CHARS] in extracted_key for text in prose]
    if not any(found):
        return False
    last = max(i for i, hit in enumerate(found) if hit)
    missing_after = sum(len(text) for text, hit in zip(prose[last + 1 :], found[last + 1 :], strict=True) if not hit)
    return missing_after >= max(_MIN_MISSING_CHARS, _MISSING_SHARE * extracted)


def readability_candidate(tree: _Element) -> list[RawBlock]:
    """The page read by readability-lxml, converted to trafilatura's XML and then to blocks."""
    from trafilatura.external import sanitize_tree, try_readability
    from trafilatura.settings import Extractor

    options = Extractor(output_format="xml", comments=False, formatting=True, links=True, tables=True)
    summary = try_readability(deepcopy(tree))
    if summary is None or not len(summary):
        return []
    body, _ = sanitize_tree(summary, options)
    return body_to_blocks(body)


def _is_prose(block: RawBlock) -> bool:
    return block.type in ("paragraph", "quote") and block.words >= _PROSE_WORDS and block.link_ratio < 0.3


def _page_order(blocks: list[RawBlock], tree: _Element) -> list[RawBlock]:
    """``blocks`` sorted by where their text starts in the page (unfound ones stay after their predecessor)."""
    body = tree.find(".//body")
    page_key = normalise(element_text(body if body is not None else tree, " "))
    positions: list[float] = []
    last = -1.0
    for block in blocks:
        found = page_key.find(normalise(block.text)[:80])
        last = float(found) if found >= 0 else last + 0.001
        positions.append(last)
    return [b for _, _, b in sorted(zip(positions, range(len(blocks)), blocks, strict=True))]


def choose_blocks(base: list[RawBlock], candidate: list[RawBlock], tree: _Element) -> tuple[list[RawBlock], str]:
    """trafilatura's blocks, the candidate's, or both; and the name of the choice.

    * the candidate is clearly longer and keeps almost every substantial block of
      ``base``: it extends the article, take it ("readability");
    * otherwise the candidate's prose paragraphs that ``base`` lacks, when they add
      a substantial share, join ``base`` in page order ("default+readability"):
      the two read different parts of one article split across containers;
    * else ``base`` ("default").
    """
    base_chars = sum(len(b.text) for b in base)
    substantial = [normalise(b.text) for b in base if b.words >= _SUBSTANTIAL_WORDS]
    if not substantial or not candidate:
        return base, "default"
    candidate_key = " " + " ".join(normalise(b.text) for b in candidate) + " "
    found = sum(f" {key} " in candidate_key for key in substantial)
    if sum(len(b.text) for b in candidate) >= _MIN_GAIN * base_chars and found >= _MIN_COVERAGE * len(substantial):
        return candidate, "readability"
    base_key = " " + " ".join(normalise(b.text) for b in base) + " "
    new = [b for b in candidate if _is_prose(b) and f" {normalise(b.text)} " not in base_key]
    if sum(len(b.text) for b in new) >= (_MIN_GAIN - 1) * base_chars:
        return _page_order([*base, *new], tree), "default+readability"
    return base, "default"

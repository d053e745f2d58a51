"""Extraction with the page classified: an article, or the reason it is none.

:func:`extract_classified` wraps :func:`workers.pipeline.extract.extract_article`
(which it does not change) with the checks of :mod:`workers.pipeline.extract.pagekind`
and the embedded-data recovery of :mod:`workers.pipeline.extract.embedded`, in order:

1. an anti-bot interstitial raises ``BotChallenge`` before any extraction;
2. the page is extracted.  When that finds no article text, an article body
   embedded in the page's data (JSON-LD, Next.js, Nuxt, initial-state blobs)
   becomes the record, paragraphs kept, with the page's metadata; without one
   the page is an application shell (``JsRequired``), an index
   (``NotArticle``; also when the data holds only its cards' teasers) or
   plain ``EmptyText``;
3. a weak extraction (under ``SHORT_TEXT_WORDS`` words, no sentence, or a page
   with little text beside its navigation, header and footer) gives way to an
   embedded body three times as long that contains it (the page showed its
   lead), or when it is a shell's leftovers (a short notice or menu, or mostly
   navigation and footer, on a page with shell signs) or has no sentence;
   leftovers without such a body are ``JsRequired``;
4. the JSON-LD ``articleBody`` (the publisher's own declaration of the body)
   replaces an extraction of which it is three times as long, or one and a
   half times as long and shares nothing with (the extractor took another
   block of the page); an extraction of one or two blocks that is an
   embedded body's text gets that body's paragraphs;
5. an extraction made of the headlines and teasers of many cards, with under
   ``INDEX_MAX_OWN_WORDS`` words of its own, is an index (``NotArticle``),
   unless the page declares itself an article and has
   ``INDEX_MAX_OWN_WORDS_DECLARED`` words of its own;
6. ``paywalled`` says whether the page declares or shows a paywall.  A
   paywalled page keeps what it shows (the teaser): embedded bodies are never
   used for it, so a record carries no more than a reader without a
   subscription sees.

Words are counted so that Chinese, Japanese and Thai text (no spaces) counts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from ...errors import BotChallenge, EmptyText, JsRequired, NotArticle
from ._meta import read_metadata
from .article import Block, ExtractedArticle, extract_article
from .embedded import EmbeddedArticle, embedded_article, jsonld_article
from .pagekind import (
    INDEX_MAX_OWN_WORDS_DECLARED,
    SHELL_MAX_WORDS,
    IndexCheck,
    ParsedPage,
    app_shell_reason,
    challenge_vendor,
    count_words,
    declares_article,
    index_reason,
    is_paywalled,
)
from .text import normalise

__all__ = ["ClassifiedPage", "extract_classified", "SHORT_TEXT_WORDS"]

# An extraction this short may be a shell's leftovers ("Loading...", a noscript notice).
SHORT_TEXT_WORDS = 40


@dataclass(slots=True)
class ClassifiedPage:
    article: ExtractedArticle
    paywalled: bool
    embedded_source: str | None = None  # where the text came from when not from the HTML


def extract_classified(html: str, url: str | None, *, own_urls: tuple[str, ...] = ()) -> ClassifiedPage:
    """The article of ``html`` with its paywall flag; raises a NewswireError naming what the page is otherwise."""
    challenge = challenge_vendor(html)
    if challenge is not None:
        raise BotChallenge(f"{challenge.vendor} interstitial ({challenge.words} words of visible text)")
    paywalled = is_paywalled(html)
    own = tuple(u for u in (url, *own_urls) if u)
    try:
        article = extract_article(html, url)
    except EmptyText as empty:
        return _without_text(html, url, own, paywalled, empty)
    lines = [line for block in article.blocks for line in block.text.split("\n") if line.strip()]
    words = sum(count_words(line) for line in lines)
    tree = ParsedPage.parse(html)
    if tree is None:
        return ClassifiedPage(article, paywalled)
    short = words < SHORT_TEXT_WORDS
    sentences = _has_sentence(lines)
    if short or not sentences or not tree.content_words_over(SHELL_MAX_WORDS):
        # The text is a shell's leftovers only on a page with shell signs, and only when it is short and
        # reads like a notice or menu, or is mostly the page's navigation, header and footer; a short
        # news brief on a JavaScript site keeps its own text unless the page's data holds it in full.
        shell = app_shell_reason(tree)
        chrome = _from_chrome(lines, tree)
        leftovers = shell is not None and ((short and _looks_like_leftovers(lines)) or chrome)
        embedded = None if paywalled else embedded_article(html)
        if embedded is not None and embedded.words >= 3 * max(words, 1) and (
                leftovers or chrome or not sentences or _contains(embedded, article)
                or embedded.source == "json-ld"):  # the publisher's own declaration of the body
            return ClassifiedPage(_with_embedded(article, embedded), paywalled, embedded.source)
        if leftovers and shell is not None:
            raise JsRequired(f"{shell.reason}; {words} words extracted, no usable embedded article data")
    if not paywalled:
        # the publisher's own declaration of the body, when the extraction found a small part of it
        declared = jsonld_article(html)
        if declared is not None and (declared.words >= 3 * max(words, 1) or (
                declared.words >= 1.5 * words and not _overlaps(declared, article))):
            return ClassifiedPage(_with_embedded(article, declared), paywalled, declared.source)
    if len(article.blocks) <= 2 and not paywalled:
        # trafilatura reads JSON-LD articleBody itself for some shells, as one block: take its paragraphs
        embedded = embedded_article(html)
        if embedded is not None and len(embedded.paragraphs) > len(article.blocks) and _same_text(article, embedded):
            return ClassifiedPage(_with_embedded(article, embedded), paywalled, embedded.source)
    index = index_reason(tree, lines, (*own, article.canonical_url or ""))
    if index is not None and index.own_words >= INDEX_MAX_OWN_WORDS_DECLARED and declares_article(html):
        index = None  # a short story the extractor took with its rail of cards: the page says it is an article
    if index is not None:
        raise NotArticle(f"{index.cards} headline cards; the text is {index.card_words} words of their headlines "
                         f"and teasers and {index.own_words} of its own")
    return ClassifiedPage(article, paywalled)


def _without_text(html: str, url: str | None, own: tuple[str, ...], paywalled: bool,
                  empty: EmptyText) -> ClassifiedPage:
    tree = ParsedPage.parse(html)
    if tree is None:
        raise empty
    embedded = None if paywalled else embedded_article(html)
    index = index_reason(tree, [], own)
    if embedded is not None and index is not None and _teasers(embedded, index):
        raise NotArticle(f"{index.cards} headline cards; the page's data holds their teasers, not an article")
    if embedded is not None:
        parsed = _html_tree(html)
        meta = read_metadata(parsed if parsed is not None else tree.tree, url)
        article = ExtractedArticle(
            title=meta.title, blocks=[], authors=meta.authors, published=meta.published, site_name=meta.site_name,
            language=meta.language, description=meta.description, canonical_url=meta.canonical_url, tags=meta.tags,
            image=meta.image, boilerplate_blocks=0, title_variants=meta.title_variants)
        return ClassifiedPage(_with_embedded(article, embedded), paywalled, embedded.source)
    shell = app_shell_reason(tree)
    if shell is not None:
        raise JsRequired(f"{shell.reason}; no article text and no usable embedded article data")
    if index is not None:
        raise NotArticle(f"{index.cards} headline cards and no article text")
    if paywalled:
        raise EmptyText(f"{empty.detail} (the page declares a paywall)")
    raise empty


def _with_embedded(article: ExtractedArticle, embedded: EmbeddedArticle) -> ExtractedArticle:
    blocks = [Block(kind, text) for kind, text in embedded.paragraphs]  # type: ignore[arg-type]
    return replace(article, blocks=blocks, boilerplate_blocks=0)


def _same_text(article: ExtractedArticle, embedded: EmbeddedArticle) -> bool:
    extracted = normalise(" ".join(block.text for block in article.blocks))
    data = normalise(" ".join(text for _, text in embedded.paragraphs))
    return bool(extracted) and (extracted == data or extracted in data and len(extracted) >= 0.9 * len(data))


# Words of what a shell shows before its script runs: notices, spinners, its navigation and footer.
_LEFTOVER = re.compile(r"\b(?:javascript|loading|cookies?|browser|enable|copyright|rights reserved|privacy|terms of|"
                       r"sign in|log in|subscribe|menu|newsletter)\b|©", re.I)
_LEFTOVER_MAX_PLAIN_WORDS = 12


def _looks_like_leftovers(lines: list[str]) -> bool:
    """Few words, notice or chrome vocabulary (twice: one "loading ramp" is news), or no sentence at all
    (menu items, labels)."""
    text = " ".join(lines)
    if count_words(text) < _LEFTOVER_MAX_PLAIN_WORDS or len(_LEFTOVER.findall(text)) >= 2:
        return True
    return max((count_words(line) for line in lines), default=0) < _SENTENCE_WORDS


_SENTENCE_WORDS = 8


def _contains(embedded: EmbeddedArticle, article: ExtractedArticle) -> bool:
    """The embedded body holds the extracted text: the page showed a part of it (a lead, a first paragraph)."""
    extracted = normalise(" ".join(block.text for block in article.blocks))
    return bool(extracted) and extracted in normalise(" ".join(text for _, text in embedded.paragraphs))


def _teasers(embedded: EmbeddedArticle, index: IndexCheck) -> bool:
    """Most of the embedded paragraphs are the page's cards: an index's data, not an article's."""
    shown = sum(1 for _, text in embedded.paragraphs if index.shows(text))
    return shown * 2 > len(embedded.paragraphs)


def _html_tree(html: str) -> Any:
    """The page parsed as the extractor parses it (lxml.html elements), for its metadata reader."""
    from trafilatura.utils import load_html

    return load_html(html)


def _from_chrome(lines: list[str], page: ParsedPage) -> bool:
    """Most of the extracted words are the page's navigation, header, footer or asides."""
    chrome = sum(count_words(line) for line in lines if page.chrome_shows(line))
    return chrome * 2 > sum(count_words(line) for line in lines)


def _has_sentence(lines: list[str]) -> bool:
    """A line of running text: at least ``_SENTENCE_WORDS`` words and a sentence's end (menus have neither)."""
    return any(count_words(line) >= _SENTENCE_WORDS and _SENTENCE_END.search(line) for line in lines)


_SENTENCE_END = re.compile(r"[.!?。！？](?:[\"'”’)\]]*)(?:\s|$)")


def _overlaps(embedded: EmbeddedArticle, article: ExtractedArticle) -> bool:
    """Some of the extracted lines are in the embedded body (the two are versions of one text)."""
    body = " " + normalise(" ".join(text for _, text in embedded.paragraphs)) + " "
    keys = [normalise(block.text) for block in article.blocks]
    return any(len(key) >= 20 and key[:60] in body for key in keys)

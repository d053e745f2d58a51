"""Text normalisation shared by the extraction and dedupe stages.

Kept in one module so that "the same text" means the same thing to
the boilerplate rules, the dedupe rules and the benchmark's headline check.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from lxml.etree import _Element

__all__ = ["clean_space", "element_text", "itertext", "normalise", "word_count"]


def itertext(element: _Element) -> Iterator[str]:
    """The text fragments under ``element`` in document order.

    lxml's stubs say ``str | bytes``: bytes come only from trees parsed from bytes without
    an encoding, and every tree here is parsed from decoded text (charset.decode_html).
    """
    return cast("Iterator[str]", element.itertext())


def element_text(element: _Element, sep: str = "") -> str:
    """All text under ``element``, fragments joined with ``sep``."""
    return sep.join(itertext(element))

_SPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")
# Everything that is not a letter or digit separates words once normalised:
# punctuation, quotes of every script, dashes, symbols.
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_WORD = re.compile(r"\w+", re.UNICODE)


def clean_space(text: str) -> str:
    """Collapse runs of spaces/tabs (and NBSP etc.) but keep single line breaks."""
    text = text.replace("\u00ad", "").replace("\u200b", "").replace("\ufeff", "")
    text = _SPACE.sub(" ", text)
    return _BLANK_LINES.sub("\n", text).strip()


@lru_cache(maxsize=4096)  # the stages normalise each block several times; the result depends on the text only
def normalise(text: str) -> str:
    """Comparison key: NFKC, case-folded, punctuation/quotes/whitespace removed.

    Two strings that differ only in case, curly vs straight quotes, dashes,
    punctuation, spacing or unicode composition get the same key.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD.sub(" ", text).strip()


def word_count(text: str) -> int:
    return len(_WORD.findall(text))

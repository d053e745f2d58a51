"""Text normalisation and hashed word shingles, stable across processes and machines.

Syndicated copies differ in case, punctuation, quotes and dashes, so the text is
NFKC-normalised, case-folded and reduced to its runs of word characters.  A
shingle is ``SHINGLE_WORDS`` consecutive words; its hash combines the words'
hashes (blake2b, not Python's salted ``hash``: every worker must agree).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

__all__ = ["SHINGLE_WORDS", "words", "shingle_hashes"]

#: Words per shingle.  Five is long enough that two reports of the same event by
#: different writers share few shingles (names and stock phrases are shorter), and
#: short enough that one edited word spoils only five shingles.
SHINGLE_WORDS = 5

_WORD = re.compile(r"\w+")
_MASK32 = np.uint64(0xFFFFFFFF)
# Multipliers per position in a shingle: the combination is order-sensitive.
_POSITION = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                      0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53,
                      0x94D049BB133111EB, 0xBF58476D1CE4E5B9], dtype=np.uint64)


def words(text: str) -> list[str]:
    """The text's words, NFKC-normalised and case-folded."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _word_hash(word: str, cache: dict[str, int]) -> int:
    value = cache.get(word)
    if value is None:
        value = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        cache[word] = value
    return value


def shingle_hashes(text: str, size: int = SHINGLE_WORDS) -> np.ndarray:
    """The distinct 32-bit hashes of the text's word shingles (sorted, uint64 dtype).

    A text shorter than ``size`` words is one shingle; an empty text has none.
    """
    if not 1 <= size <= len(_POSITION):
        raise ValueError(f"shingle size must be 1..{len(_POSITION)}")
    tokens = words(text)
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    cache: dict[str, int] = {}
    hashed = np.fromiter((_word_hash(w, cache) for w in tokens), dtype=np.uint64, count=len(tokens))
    count = max(1, len(tokens) - size + 1)
    width = min(size, len(tokens))
    combined = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(width):
            combined += hashed[offset:offset + count] * _POSITION[offset]
    # Fold to 32 bits: the MinHash family below hashes 32-bit keys.
    folded = (combined >> np.uint64(32)) ^ (combined & _MASK32)
    return np.unique(folded)

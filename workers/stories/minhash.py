"""MinHash signatures, LSH band keys and similarity estimates.

A signature is the minimum of each of ``PERMUTATIONS`` hash functions over a
text's shingles; two texts agree on one position with probability equal to the
Jaccard similarity of their shingle sets.  The hash family is multiply-shift
(``(a*x + b) mod 2**64 >> 32`` with odd ``a``) on 32-bit shingle hashes, its
constants derived from blake2b so every worker and every release computes the
same signature.

LSH: the signature is cut into ``bands`` of ``rows`` positions; two texts that
agree on a whole band become candidates.  The probability of that is
``1 - (1 - J**rows) ** bands`` for Jaccard ``J``; candidates are then checked
with the full signature (:func:`overlap`), so banding only decides recall and
cost, never a merge by itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["PERMUTATIONS", "BANDS", "ROWS", "Signature", "signature", "band_keys", "jaccard", "overlap",
           "candidate_probability"]

PERMUTATIONS = 128
#: 42 bands of 3 rows (126 of the 128 positions): a pair at Jaccard 0.4 becomes a
#: candidate with probability 0.94, at 0.5 with 0.996, at 0.1 with 0.04 (see docs/stories.md).
BANDS = 42
ROWS = 3
_EMPTY = np.uint32(0xFFFFFFFF)


def _constants(count: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = [], []
    for i in range(count):
        digest = hashlib.blake2b(f"newswire-minhash-{i}".encode(), digest_size=16).digest()
        a.append(int.from_bytes(digest[:8], "little") | 1)
        b.append(int.from_bytes(digest[8:], "little"))
    return np.array(a, dtype=np.uint64), np.array(b, dtype=np.uint64)


_A, _B = _constants(PERMUTATIONS)


@dataclass(frozen=True, slots=True)
class Signature:
    """A text's MinHash values and the number of distinct shingles they summarise."""

    values: np.ndarray  # uint32[PERMUTATIONS]
    shingles: int

    def to_bytes(self) -> bytes:
        return self.values.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, raw: bytes, shingles: int) -> Signature:
        if len(raw) != 4 * PERMUTATIONS:
            raise ValueError(f"a signature is {4 * PERMUTATIONS} bytes, not {len(raw)}")
        return cls(np.frombuffer(raw, dtype="<u4").astype(np.uint32), shingles)


def signature(shingle_hashes: np.ndarray) -> Signature:
    """The MinHash signature of a set of 32-bit shingle hashes (empty set: all positions 0xFFFFFFFF)."""
    if len(shingle_hashes) == 0:
        return Signature(np.full(PERMUTATIONS, _EMPTY, dtype=np.uint32), 0)
    x = shingle_hashes.astype(np.uint64)[:, None]
    with np.errstate(over="ignore"):
        hashed = (x * _A[None, :] + _B[None, :]) >> np.uint64(32)
    return Signature(hashed.min(axis=0).astype(np.uint32), int(len(shingle_hashes)))


def band_keys(sig: Signature, bands: int = BANDS, rows: int = ROWS) -> list[bytes]:
    """One 8-byte key per band: the band's number and its values, hashed."""
    if bands * rows > PERMUTATIONS:
        raise ValueError("bands x rows exceeds the signature length")
    raw = sig.values.astype("<u4").tobytes()
    width = 4 * rows
    return [hashlib.blake2b(bytes([band]) + raw[band * width:(band + 1) * width], digest_size=8).digest()
            for band in range(bands)]


def jaccard(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the two shingle sets."""
    return float(np.count_nonzero(a.values == b.values)) / PERMUTATIONS


def overlap(a: Signature, b: Signature) -> float:
    """Estimated share of the smaller text's shingles that the other text has too (0-1).

    From the Jaccard estimate J and the set sizes: ``|A & B| = J (|A| + |B|) / (1 + J)``.
    Unlike Jaccard it stays high when one copy is a cut-down version of the
    other (last paragraphs dropped), which is what syndication does.
    """
    smaller = min(a.shingles, b.shingles)
    if smaller == 0:
        return 0.0
    j = jaccard(a, b)
    common = j * (a.shingles + b.shingles) / (1.0 + j)
    return min(1.0, common / smaller)


def candidate_probability(j: float, bands: int = BANDS, rows: int = ROWS) -> float:
    """Probability that a pair with Jaccard ``j`` shares at least one band."""
    return 1.0 - (1.0 - j ** rows) ** bands

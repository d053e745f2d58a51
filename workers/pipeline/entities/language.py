"""Language identification for article text (py3langid, 97+ languages, no network).

:func:`detect_language` answers ``(code, confidence)``: ``code`` is the ISO
639-1 code where the language has one (``en``, ``fr``) and the model's ISO
639-3 code otherwise (a few small languages such as ``gcf``); ``None`` when the
text is empty, too short to tell (fewer than ``MIN_LETTERS`` letters) or has no
linguistic content.  ``confidence`` is py3langid's length-calibrated
probability of that language (0..1).  Only the first ``SAMPLE_CHARS``
characters are read: an article's language is settled long before that, and
it keeps the cost flat for very long texts.

:func:`choose_language` is the policy the enrichment stage applies on top: a
confident detection wins over the page's declared language (templates often
declare ``en`` for every page); a declared language is used when detection is
unsure.  It never raises: language never fails a record.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier  # type: ignore[import-untyped]

__all__ = [
    "detect_language",
    "choose_language",
    "normalise_language_tag",
    "MIN_LETTERS",
    "SAMPLE_CHARS",
    "CONFIDENT",
    "NEAR_TOP",
]

MIN_LETTERS = 12
SAMPLE_CHARS = 5_000
# Below this, a detection is a guess: a declared language is preferred to it.
CONFIDENT = 0.5
# An expected language this close to an unsure top guess is taken instead.
NEAR_TOP = 0.5

# Labels that say "no language" rather than naming one.
_NOT_A_LANGUAGE = {"zxx", "und", "mul", "mis"}

_identifier: LanguageIdentifier | None = None
_identifier_lock = threading.Lock()


def _get_identifier() -> LanguageIdentifier:
    """The py3langid model (about 1 s to load), loaded once per process."""
    global _identifier
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


def _sample(text: str) -> str | None:
    sample = text[:SAMPLE_CHARS]
    letters = 0
    for ch in sample:  # stop counting at MIN_LETTERS: this runs for every article
        if ch.isalpha():
            letters += 1
            if letters >= MIN_LETTERS:
                return sample
    return None


def detect_language(text: str) -> tuple[str | None, float]:
    """``(language code or None, confidence 0..1)`` for ``text``."""
    sample = _sample(text or "")
    if sample is None:
        return None, 0.0
    code, confidence = _get_identifier().classify(sample)
    if code in _NOT_A_LANGUAGE:
        return None, 0.0
    return code, min(1.0, max(0.0, float(confidence)))


def _probabilities(text: str) -> dict[str, float]:
    """Every language's probability for ``text`` (empty when too short)."""
    sample = _sample(text)
    if sample is None:
        return {}
    return {label: min(1.0, max(0.0, float(p))) for label, p in _get_identifier().rank(sample)}


_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_].*)?$")


def normalise_language_tag(tag: str | None) -> str | None:
    """``"en-US"`` / ``"EN_gb"`` / ``" en "`` -> ``"en"``; empty or ``und`` -> None."""
    if not tag:
        return None
    match = _TAG.match(tag.strip())
    if not match:
        return None
    code = match.group(1).lower()
    return None if code in _NOT_A_LANGUAGE else code


def choose_language(text: str, declared: str | None = None,
                    expected: Sequence[str] = ()) -> tuple[str | None, float]:
    """The language to treat ``text`` as, with the detector's confidence in it.

    1. A detection with confidence >= CONFIDENT wins.
    2. Otherwise the declared language (``<html lang>``, normalised) is used;
       the confidence is the detector's probability for that language.
    3. Otherwise, if one of the ``expected`` languages (those the pipeline has
       models for) is at least NEAR_TOP times as likely as the top guess, it
       is taken: short English news text full of names often reads as
       Nigerian Pidgin (``pcm``) at 0.25 with English at 0.17, and skipping
       NER there loses more than running it on a near-miss.
    4. Otherwise the language is unknown: ``(None, 0.0)``.  A low-confidence
       guess on a short text ("Obama visits Paris" reads as Xhosa at 0.06) is
       worse than no answer.
    """
    detected, confidence = detect_language(text)
    if detected is not None and confidence >= CONFIDENT:
        return detected, confidence
    declared_code = normalise_language_tag(declared)
    if declared_code is not None:
        if declared_code == detected:
            return declared_code, confidence
        return declared_code, _probabilities(text).get(declared_code, 0.0)
    if detected is not None and expected:
        if detected in expected:
            return detected, confidence
        probabilities = _probabilities(text)
        best = max(expected, key=lambda code: probabilities.get(code, 0.0))
        probability = probabilities.get(best, 0.0)
        if probability >= NEAR_TOP * confidence:
            return best, probability
    return None, 0.0

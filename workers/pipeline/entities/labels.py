"""Map a model's NER labels onto the record's OntoNotes-style labels (pure Python, no spaCy).

Records carry OntoNotes labels (PERSON, ORG, GPE, LOC, NORP, ...) whatever the
article's language, so consumers can aggregate one entity across languages
(the entity topic is keyed ``LABEL:name``).  Models come in two label schemes:

* **OntoNotes** (``en_core_web_*``, and third-party models such as
  ``cs_core_news_sm``): labels pass through unchanged.
* **WikiNER** (``fr_core_news_*``, and spaCy's other ``*_core_news_*``
  models for Catalan, Spanish, Italian, Portuguese, Russian, ... : exactly
  PER, LOC, ORG, MISC), recognised by that label set:

  - PER -> PERSON, ORG -> ORG, MISC -> MISC (a label OntoNotes has not: the
    schema allows another model's labels).
  - LOC -> **GPE** by default: in news, WikiNER's LOC spans are mostly
    countries, regions and cities, which OntoNotes calls GPE, so "Paris" is
    ``GPE:Paris`` in French and English articles alike.
  - LOC -> **LOC** when the name is a geographic feature or a supranational
    region, which OntoNotes calls LOC: its first word is a feature noun
    ("fleuve Rhône", "mer Noire", "Lake Geneva": ``PLACE_FEATURE_WORDS``), or
    it starts with the name of a continent, sea, mountain range or
    cross-border region ("Europe", "Afrique du Nord", "Méditerranée", "Alpes":
    ``REGION_NAMES``).  Both lists are in :mod:`workers.pipeline.entities._name_words`.

WikiNER models tag no DATE, TIME or MONEY, so French records have no facts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from ._name_words import PLACE_FEATURE_WORDS, REGION_NAMES

__all__ = ["LabelScheme", "label_scheme", "map_label", "wikiner_place_label", "WIKINER_LABELS"]

LabelScheme = Literal["ontonotes", "wikiner"]

WIKINER_LABELS = frozenset({"PER", "LOC", "ORG", "MISC"})
_WIKINER_TO_ONTONOTES = {"PER": "PERSON", "ORG": "ORG", "MISC": "MISC"}


def label_scheme(labels: Iterable[str]) -> LabelScheme:
    """``wikiner`` for a model whose NER labels are (a subset of) PER, LOC, ORG, MISC."""
    found = set(labels)
    return "wikiner" if found and found <= WIKINER_LABELS else "ontonotes"


def map_label(label: str, surface: str, scheme: LabelScheme) -> str:
    """The record's label for a span the model labelled ``label``; ``surface`` is the trimmed name."""
    if scheme == "ontonotes":
        return label
    if label == "LOC":
        return wikiner_place_label(surface)
    return _WIKINER_TO_ONTONOTES.get(label, label)


def wikiner_place_label(surface: str) -> str:
    """GPE for a WikiNER LOC, unless it names a geographic feature or region (then LOC)."""
    words = surface.split()
    if not words:
        return "GPE"
    first = words[0].casefold()
    return "LOC" if first in PLACE_FEATURE_WORDS or first in REGION_NAMES else "GPE"

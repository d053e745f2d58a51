"""Mapping model labels onto the record's OntoNotes-style labels (no model)."""

from __future__ import annotations

import pytest

from workers.pipeline.entities.labels import label_scheme, map_label, wikiner_place_label


def test_label_scheme_is_told_by_the_label_set():
    assert label_scheme(["LOC", "MISC", "ORG", "PER"]) == "wikiner"
    assert label_scheme(["PER", "LOC"]) == "wikiner"
    assert label_scheme(["PERSON", "ORG", "GPE", "DATE"]) == "ontonotes"
    assert label_scheme(["ORG", "GPE", "MISC", "ADDRESS"]) == "ontonotes"  # cs_core_news_sm: OntoNotes plus extras
    assert label_scheme([]) == "ontonotes"


@pytest.mark.parametrize(("label", "surface", "expected"), [
    ("PER", "Emmanuel Macron", "PERSON"),
    ("ORG", "SNCF", "ORG"),
    ("MISC", "Ligue des champions", "MISC"),
    ("LOC", "Paris", "GPE"),
    ("LOC", "Île-de-France", "GPE"),
    ("LOC", "fleuve Rhône", "LOC"),
    ("LOC", "mer Noire", "LOC"),
    ("LOC", "Europe", "LOC"),
    ("LOC", "Afrique du Nord", "LOC"),
    ("LOC", "Moyen-Orient", "LOC"),
    ("LOC", "Alpes", "LOC"),
])
def test_wikiner_labels_map_onto_ontonotes(label, surface, expected):
    assert map_label(label, surface, "wikiner") == expected


def test_ontonotes_labels_pass_unchanged():
    for label in ("PERSON", "GPE", "LOC", "MISC", "FAC"):
        assert map_label(label, "Paris", "ontonotes") == label


def test_empty_place_name_defaults_to_gpe():
    assert wikiner_place_label("") == "GPE"

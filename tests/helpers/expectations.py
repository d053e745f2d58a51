"""The seed fixture's expectations (tests/fixtures/seed-article.expected.json) as one check."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEED_HTML = FIXTURES / "seed-article.html"
SEED_EXPECTED = orjson.loads((FIXTURES / "seed-article.expected.json").read_bytes())


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def assert_seed_record(record: dict, *, entities: bool = True) -> None:
    exp = SEED_EXPECTED
    text = record["text"]
    assert record["title"] == exp["title"]
    assert _norm(text).count(_norm(exp["title"])) == exp["title_occurrences_in_text"]
    headings = [b["text"] for b in record["blocks"] if b["type"] == "heading"]
    assert headings == exp["headings_in_order"]
    assert text.startswith(exp["text_starts_with"])
    assert text.rstrip().endswith(exp["text_ends_with"])
    for phrase in exp["text_must_not_contain"]:
        assert phrase not in text, phrase
    assert (record["published"] or "").startswith(exp["published"])
    assert exp["author"] in record["authors"]
    assert record["site_name"] == exp["site_name"]
    assert record["language"] == exp["language"]
    if entities:
        found = {(e["label"], e["name"]) for e in record["entities"] + record["facts"]}
        for label, names in exp["entities_at_least"].items():
            for name in names:
                ok = (label, name) in found or (name == "Hamas" and ("NORP", name) in found)
                assert ok, f"missing entity {label} {name}"
        blinken = [e for e in record["entities"] if e["name"] == "Antony Blinken"]
        assert len(blinken) == 1 and blinken[0]["label"] == "PERSON"
        assert blinken[0]["count"] >= text.count("Blinken")

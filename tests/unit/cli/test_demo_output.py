"""The demo (and `tail --format short`) say why a record has no entities instead of printing "-"."""

from __future__ import annotations

from pathlib import Path

from workers.cli.record_text import describe_article, no_entities
from workers.pipeline.analyse import AnalyseOptions, PageInput, analyse_page

DEMO_PAGES = Path(__file__).resolve().parents[3] / "demo" / "pages"


def test_the_german_demo_page_has_no_model_and_the_demo_says_so():
    body = (DEMO_PAGES / "wahl-berlin.html").read_bytes()
    url = "http://127.0.0.1/news/wahl-berlin.html"
    record = analyse_page(PageInput(body=body, url=url, canonical_url=url, final_url=url,
                                    fetched_at="2024-01-01T00:00:00Z"), AnalyseOptions())
    assert (record.language, record.entities_status, record.entities) == ("de", "unsupported_language", [])
    message = no_entities({"entities_status": record.entities_status, "language": record.language})
    assert message.startswith("none: no NER model for language 'de'") and "NEWSWIRE_SPACY_MODELS" in message
    shown = describe_article({"title": record.title, "entities": [], "entities_status": record.entities_status,
                              "language": record.language, "text": record.text})
    assert "entities: none: no NER model for language 'de'" in shown


def test_other_reasons_are_named():
    assert "switched off" in no_entities({"entities_status": "disabled"})
    assert "no text" in no_entities({"entities_status": "no_text"})
    assert no_entities({"entities_status": "ok"}) == "none found"

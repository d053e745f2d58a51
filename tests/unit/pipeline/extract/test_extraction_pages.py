"""Extraction on the hand-written pages of tests/pages/extraction (issue 20's patterns).

The cleaning stages (boilerplate rules, dedupe) must do no harm: no line of the
true article text is removed, every line the article repeats by design stays as
often as the extractor returned it, and no repeat of the headline is left.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from workers.pipeline.explain import explain_extraction
from workers.pipeline.extract.text import normalise

PAGES = Path(__file__).resolve().parents[3] / "pages" / "extraction"
TRUTH: dict[str, dict[str, str]] = json.loads((PAGES / "ground-truth.json").read_text(encoding="utf-8"))
_TOKEN = re.compile(r"\w+")


def _lines(text: str) -> Counter[str]:
    return Counter(normalise(line) for line in re.split(r"\n+", text) if normalise(line))


def _recall(predicted: str, truth: str) -> float:
    def shingles(text: str) -> Counter[tuple[str, ...]]:
        tokens = _TOKEN.findall(text)
        return Counter(tuple(tokens[i : i + 4]) for i in range(max(1, len(tokens) - 3)))

    true = shingles(truth)
    return sum((shingles(predicted) & true).values()) / sum(true.values())


def _headline(html: str) -> str:
    match = re.search(r'<meta (?:property="og:title"|name="twitter:title") content="([^"]+)"', html)
    assert match, "every test page declares its headline"
    return match.group(1)


@pytest.fixture(scope="module", params=sorted(TRUTH))
def page(request):
    key = request.param
    html = (PAGES / "html" / f"{key}.html").read_text(encoding="utf-8")
    return key, html, TRUTH[key]["articleBody"], explain_extraction(html, TRUTH[key]["url"])


def test_there_is_a_page_for_every_pattern():
    prefixes = {key.split("-", 1)[0] for key in TRUTH}
    assert prefixes == {"repeated", "closing", "headline", "incomplete"}
    assert sum(key.startswith("repeated-") for key in TRUTH) >= 4


def test_cleaning_removes_no_line_of_the_article(page):
    key, _, truth, explanation = page
    true_lines = _lines(truth)
    wrongly_removed = [
        (r.rule, r.text) for r in explanation.removals
        if any(normalise(line) in true_lines for line in r.text.split("\n") if normalise(line))
    ]
    assert wrongly_removed == [], key


def test_every_repeated_line_the_extractor_returned_is_kept(page):
    key, _, truth, explanation = page
    base, published = _lines(explanation.base_text), _lines(explanation.text)
    repeated = {line: n for line, n in _lines(truth).items() if n > 1}
    for line in repeated:
        assert published[line] == base[line], (key, line)


def test_cleaning_lowers_recall_by_at_most_five_points(page):
    key, _, truth, explanation = page
    assert _recall(explanation.base_text, truth) - _recall(explanation.text, truth) <= 0.05, key


def test_no_repeat_of_the_headline_is_left(page):
    key, html, _, explanation = page
    assert f" {normalise(_headline(html))} " not in f" {normalise(explanation.text)} ", key


def test_structured_articles_keep_their_repeats_in_full():
    html = (PAGES / "html" / "repeated-meal-plan-en.html").read_text(encoding="utf-8")
    lines = _lines(explain_extraction(html).text)
    assert lines[normalise("Eat every 2–3 hours.")] == 6
    assert lines[normalise("Breakfast")] == lines[normalise("Lunch")] == lines[normalise("Dinner")] == 2


def test_liveblog_time_stamps_are_kept():
    html = (PAGES / "html" / "repeated-liveblog-pt.html").read_text(encoding="utf-8")
    explanation = explain_extraction(html)
    assert [r.rule for r in explanation.removals] == []
    for stamp in ("08:05", "08:40", "09:15", "09:50", "10:30"):
        assert stamp in explanation.text.split("\n\n")

"""Page classification: every typed test page gets its expected outcome, look-alikes stay articles,
embedded-only pages give their body, paywall flags are right (tests/fixtures/pagekinds/expected.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.extraction import score_page
from workers.errors import BotChallenge, EmptyText, JsRequired, NewswireError, NotArticle
from workers.pipeline.analyse import AnalyseOptions, PageInput, analyse_page
from workers.pipeline.dedupe import dedupe_article
from workers.pipeline.entities import EntityConfig
from workers.pipeline.extract import render_text
from workers.pipeline.extract.classify import extract_classified
from workers.pipeline.extract.embedded import embedded_article, prose_score, revive_devalue
from workers.pipeline.extract.pagekind import challenge_vendor, is_paywalled
from workers.pipeline.fetch import CHALLENGE_STATUSES

PAGES = Path(__file__).resolve().parents[3] / "fixtures" / "pagekinds"
EXPECTED: dict[str, dict] = json.loads((PAGES / "expected.json").read_text(encoding="utf-8"))
URL = "https://ledger.example/news/story"


def html_of(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def outcome(name: str) -> tuple[str, str, bool | None]:
    want = EXPECTED[name]
    html = html_of(name)
    if not 200 <= want["status"] < 300:  # what the fetch stage decides on a 403/503 body
        assert want["status"] in CHALLENGE_STATUSES
        return ("bot_challenge" if challenge_vendor(html) else f"http_{want['status']}"), "", None
    try:
        page = extract_classified(html, URL)
    except NewswireError as err:
        return err.error_code, "", None
    return "article", render_text(dedupe_article(page.article).blocks), page.paywalled


def test_there_are_several_pages_of_every_kind():
    kinds = [w["outcome"] for w in EXPECTED.values()]
    for kind in ("bot_challenge", "js_required", "not_article"):
        assert kinds.count(kind) >= 4, kind
    names = list(EXPECTED)
    assert sum(n.startswith("embedded-") for n in names) >= 5
    assert sum(n.startswith("lookalike-") for n in names) >= 5
    assert sum(w.get("paywalled", False) for w in EXPECTED.values()) >= 3
    assert {w["status"] for w in EXPECTED.values() if w["outcome"] == "bot_challenge"} >= {200, 403, 503}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_page_gets_its_outcome(name):
    got, _text, paywalled = outcome(name)
    assert got == EXPECTED[name]["outcome"]
    if got == "article":
        assert paywalled is EXPECTED[name].get("paywalled", False)


@pytest.mark.parametrize("name", sorted(n for n, w in EXPECTED.items() if w["outcome"] == "article" and w.get("body")))
def test_articles_recall_their_body(name):
    _got, text, _ = outcome(name)
    assert score_page(text, EXPECTED[name]["body"]).recall >= 0.9


def test_embedded_body_keeps_paragraphs_and_metadata():
    page = extract_classified(html_of("embedded-next-html-body.html"), URL)
    assert page.embedded_source == "next"
    paragraphs = [b.text for b in page.article.blocks]
    assert len(paragraphs) == 8 and paragraphs[0].startswith("The harbour authority in Port Elwin")
    assert page.article.title == "Harbour plan approved after two-year dispute"


def test_jsonld_only_page_takes_author_and_date_from_the_page():
    page = extract_classified(html_of("embedded-jsonld-only.html"), URL)
    assert page.embedded_source in ("json-ld", None)  # trafilatura may read articleBody itself
    assert len(page.article.blocks) == 8
    assert page.article.authors == ["Ana Ruiz"]
    assert page.article.published and page.article.published.startswith("2024-05-14")


def test_paywalled_page_keeps_its_teaser_and_not_the_embedded_body():
    page = extract_classified(html_of("paywall-jsonld-haspart.html"), URL)
    text = render_text(page.article.blocks)
    assert page.paywalled and page.embedded_source is None
    assert "Port Elwin" in text and "concrete armour units" not in text  # paragraph 5 is only in the JSON-LD


def test_a_challenge_is_a_bot_challenge_before_any_extraction_and_names_the_vendor():
    with pytest.raises(BotChallenge) as info:
        extract_classified(html_of("challenge-perimeterx.html"), URL)
    assert info.value.stage == "fetch" and "perimeterx" in info.value.detail


def test_the_same_challenge_markup_around_an_article_is_an_article():
    article = html_of("lookalike-article-about-captchas.html")
    wall = html_of("challenge-cloudflare-managed.html")
    script_start = wall.index("<script>(function(){window._cf_chl_opt")
    marker_script = wall[script_start:wall.index("</script>", wall.index("_cf_chl_opt")) + 9]
    assert challenge_vendor(wall) is not None
    assert challenge_vendor(article.replace("</body>", marker_script + "</body>")) is None


def test_error_codes_and_stages():
    assert (BotChallenge.code, BotChallenge.stage) == ("bot_challenge", "fetch")
    assert (JsRequired.code, JsRequired.stage) == ("js_required", "extract")
    assert (NotArticle.code, NotArticle.stage) == ("not_article", "extract")
    assert not BotChallenge.retryable


def test_analyse_page_sets_paywalled_and_dead_letters_shells():
    options = AnalyseOptions(entities=EntityConfig(enabled=False))
    page = PageInput(body=html_of("paywall-visible-prompt.html").encode(), url=URL, canonical_url=URL, final_url=URL,
                     fetched_at="2024-05-14T10:00:00.000Z")
    assert analyse_page(page, options).paywalled is True
    page.body = html_of("lookalike-newsletter-box.html").encode()
    assert analyse_page(page, options).paywalled is False
    page.body = html_of("shell-create-react-app.html").encode()
    with pytest.raises(JsRequired):
        analyse_page(page, options)
    page.body = html_of("index-section.html").encode()
    with pytest.raises(NotArticle):
        analyse_page(page, options)


def test_a_page_without_text_and_without_shell_signs_stays_empty_text():
    html = "<html><head><title>x</title></head><body><div class='ad'></div></body></html>"
    with pytest.raises(EmptyText):
        extract_classified(html, URL)


def test_paywall_declarations():
    assert is_paywalled('<script type="application/ld+json">{"isAccessibleForFree": "False"}</script>')
    assert is_paywalled('<meta content="false" itemprop="isAccessibleForFree">')
    assert is_paywalled("<meta name='article:content_tier' content='locked'>")
    assert not is_paywalled("<meta property='article:content_tier' content='free'>")
    assert not is_paywalled('<script type="application/ld+json">{"isAccessibleForFree": true}</script>')
    assert not is_paywalled('<div class="paywall-container" hidden></div><p>All our journalism is free.</p>')


def test_prose_score_tells_prose_from_code_and_urls():
    prose = "The council met on Tuesday. It approved the plan after a long debate, and the vote was close."
    assert prose_score(prose) > 0.8
    assert prose_score("function(e){var t={};return e[r].call(o.exports,o,o.exports,n)}" * 5) < 0.3
    assert prose_score(" ".join(f"https://cdn.example/img/{i}.jpg" for i in range(20))) < 0.3


def test_devalue_references_are_resolved():
    assert revive_devalue([{"a": 1, "b": 2}, ["Reactive", 3], [4, 4], "text", "x"]) == {"a": "text", "b": ["x", "x"]}
    assert revive_devalue([[0]]) == [None]  # a cycle ends


def test_longest_prose_candidate_wins_over_longer_non_prose():
    css = ".a{color:red}" * 300
    body = " ".join(["The ferry resumed its crossings on Monday after repairs to the ramp were finished."] * 12)
    html = (f'<script>window.__INITIAL_STATE__ = {json.dumps({"styles": css, "story": {"text": body}})};</script>')
    found = embedded_article(html)
    assert found is not None and found.source == "state" and found.paragraphs[0][1].startswith("The ferry")


@pytest.mark.parametrize("title, wall", [
    ("Just a moment...", True),
    ("Attention Required! | Cloudflare", True),
    ("Access Denied", True),
    ("Blocked drains flood the town centre", False),
    ("Please wait for the results of the vote", False),
    ("Security checks at the airport are slower this summer", False),
])
def test_a_challenge_title_is_the_whole_title(title, wall):
    html = f"<html><head><title>{title}</title></head><body><p>A few words of text here.</p></body></html>"
    assert (challenge_vendor(html) is not None) is wall


def test_a_short_news_brief_with_a_captcha_comment_form_is_not_a_wall():
    form = "<form><div class='g-recaptcha'></div><p>Please verify you are human before commenting.</p></form>"
    wall = f"<html><head><title>example.com</title></head><body><p>One moment.</p>{form}</body></html>"
    assert challenge_vendor(wall) is not None
    brief = ("<html><head><title>Ferry services resume</title><meta property='og:type' content='article'></head>"
             "<body><article><h1>Ferry services resume</h1><p>Ferry services to the island resumed on Monday after "
             f"two weeks of repairs to the loading ramp, the operator said.</p>{form}</article></body></html>")
    assert challenge_vendor(brief) is None
    short_about_captchas = ("<html><head><title>Google retires its 'I am not a robot' box</title></head><body>"
                            "<article><p>The captcha that asked millions to prove they are not a robot is going away, "
                            "Google said.</p></article></body></html>")
    assert challenge_vendor(short_about_captchas) is None


def test_embedded_candidates_judged_are_bounded_on_huge_blobs(monkeypatch):
    from workers.pipeline.extract import embedded

    judged = []
    real = embedded._paragraphs_of
    monkeypatch.setattr(embedded, "_paragraphs_of", lambda text: judged.append(text) or real(text))
    comments = [{"id": i, "body": " ".join([f"Comment {i} says the plan is fine and the council should go on."] * 8)}
                for i in range(3000)]
    html = f'<script id="__NEXT_DATA__" type="application/json">{json.dumps({"comments": comments})}</script>'
    assert embedded_article(html) is not None
    assert len(judged) <= 2 * embedded._MAX_JUDGED


def test_is_accessible_for_free_outside_json_ld_does_not_count():
    data = json.dumps({"related": [{"title": "Other story", "isAccessibleForFree": False}]})
    assert not is_paywalled(f'<script id="__NEXT_DATA__" type="application/json">{data}</script>')


def test_words_of_unspaced_scripts_are_counted():
    from workers.pipeline.extract.pagekind import count_words

    assert count_words("The council met on Tuesday.") == 5
    assert count_words("報道によると、販売されたのは機能制限を解除した端末でした。") >= 10
    assert count_words("") == 0


def test_a_short_story_extracted_with_its_rail_of_cards_stays_an_article_when_the_page_says_so(monkeypatch):
    from workers.pipeline.extract import Block, ExtractedArticle, classify

    index_html = html_of("index-section.html")
    story = ("Ferry services to the island resumed on Monday after two weeks of repairs to the loading ramp, "
             "the operator said, and the first crossing left at seven.")
    cards = card_lines(index_html)
    article = ExtractedArticle(title="Ferry services resume", blocks=[Block("paragraph", story)]
                               + [Block("paragraph", line) for line in cards], authors=[], published=None,
                               site_name=None, language="en", description=None, canonical_url=None, tags=[],
                               image=None, boilerplate_blocks=0)
    monkeypatch.setattr(classify, "extract_article", lambda html, url: article)
    with pytest.raises(NotArticle):
        extract_classified(index_html, URL)
    declared = index_html.replace('content="website"', 'content="article"')
    assert extract_classified(declared, URL).article is article


def card_lines(html: str) -> list[str]:
    """The cards' headline and teaser texts of an index page, as an extractor would give them."""
    import re as _re

    cards = _re.findall(r"<h3[^>]*>(.*?)</h3>|<p class=\"teaser\">(.*?)</p>", html)  # (headline, teaser) pairs
    return [" ".join(_re.sub(r"<[^>]+>", " ", text).split()) for card in cards for text in card if text]


def test_an_html_body_keeps_text_outside_paragraph_elements():
    from workers.pipeline.extract.embedded import _paragraphs_of

    blocks = _paragraphs_of("Intro text here.<br><br>Second line.<p>Third para.</p><div>Fourth <b>bold</b> text.</div>")
    assert [text for _, text in blocks] == ["Intro text here.", "Second line.", "Third para.", "Fourth bold text."]
    assert _paragraphs_of("<h2>Sub</h2><p>One.</p>") == [("heading", "Sub"), ("paragraph", "One.")]


def test_the_page_is_read_as_the_decoded_text_whatever_its_meta_charset():
    from workers.pipeline.extract.pagekind import parse_page

    tree = parse_page('<html><head><meta charset="iso-8859-1"></head><body><p>Fernwärme – 東京</p></body></html>')
    assert "".join(tree.find("body").itertext()) == "Fernwärme – 東京"

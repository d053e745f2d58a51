"""Extraction stage: the seed fixture, each boilerplate rule, metadata, blocks, errors."""

from __future__ import annotations

import contextlib
import pickle

import pytest

from tests.helpers.expectations import SEED_EXPECTED, SEED_HTML, assert_seed_record
from workers.errors import EmptyText, ExtractFailed
from workers.pipeline.dedupe import dedupe_article
from workers.pipeline.extract import Block, extract_article, render_text
from workers.pipeline.extract._blocks import RawBlock
from workers.pipeline.extract._boilerplate import is_boilerplate_text, strip_boilerplate
from workers.pipeline.extract._meta import clean_authors

SEED_URL = "https://dailyledger.example/2024/02/07/blinken-gaza-peace-talks/"

PARAS = [
    ("The city council voted on Tuesday to expand the bus network into the northern suburbs, a plan that "
    "had been debated for more than three years and that residents had long asked for."),
    ("Under the plan, four new routes will open next spring, linking the suburbs to the central station and "
    "to the hospital district, with buses running every ten minutes at peak hours."),
    ("Opponents argued that the money would be better spent on repairing existing roads, but the measure "
    "passed by a comfortable margin after a long and at times heated public session."),
    ("The mayor said the expansion would cut commuting times for thousands of people and reduce traffic in "
    "the city centre, and promised that fares would not rise to pay for it."),
]
BODY = "".join(f"<p>{text}</p>" for text in PARAS)


def page(body: str, head: str = "", lang: str = "en", title: str = "Council approves bus expansion") -> str:
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>{head}</head>'
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    )


def extract_text(html: str, url: str | None = "https://news.example/a") -> str:
    return render_text(dedupe_article(extract_article(html, url)).blocks)


# -- the seed fixture -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed():
    article = extract_article(SEED_HTML.read_text(encoding="utf-8"), SEED_URL)
    return article, dedupe_article(article)


def test_seed_meets_every_text_and_metadata_expectation(seed):
    article, deduped = seed
    record = {
        "title": article.title,
        "text": render_text(deduped.blocks),
        "blocks": [{"type": b.type, "text": b.text} for b in deduped.blocks],
        "published": article.published,
        "authors": article.authors,
        "site_name": article.site_name,
        "language": article.language,
    }
    assert_seed_record(record, entities=False)


def test_seed_details(seed):
    article, deduped = seed
    text = render_text(deduped.blocks)
    assert article.title == SEED_EXPECTED["title"]
    assert SEED_EXPECTED["title"] not in text
    assert [b.text for b in deduped.blocks if b.type == "heading"] == SEED_EXPECTED["headings_in_order"]
    assert text.startswith(SEED_EXPECTED["text_starts_with"])
    assert text.endswith(SEED_EXPECTED["text_ends_with"])
    for phrase in SEED_EXPECTED["text_must_not_contain"]:
        assert phrase not in text
    assert article.published == "2024-02-07T09:30:00+00:00"
    assert article.authors == ["Staff Reporter"]
    assert (article.site_name, article.language) == ("The Daily Ledger", "en")
    assert article.canonical_url == SEED_URL
    assert {"Gaza", "Israel"} <= set(article.tags)
    assert deduped.removed["title_repeats"] == 1  # the <h2> repeat inside the body


def test_result_is_picklable_for_the_process_pool(seed):
    article, _ = seed
    assert pickle.loads(pickle.dumps(article)) == article


# -- boilerplate rules, one by one (rule level) ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Share this:",
        "Share on Facebook",
        "Leave a Reply",
        "Your email address will not be published. Required fields are marked *",
        "Post Comment",
        "You must be logged in to post a comment.",
        "Sign up for our newsletter to get the day's top stories in your inbox.",
        "Get the day\u2019s top headlines delivered to your inbox every morning by subscribing to our newsletter.",
        "We use cookies to improve your experience. By continuing to use this site you accept our cookie policy.",
        "Read more: Mayor unveils new budget plan",
        "Related: Ten things to know about the vote",
        "Advertisement",
        "Story continues below advertisement",
        "\u00a9 2024 The Daily Ledger. All rights reserved.",
        "Follow us on Twitter",
        "https://news.example/2024/02/07/some-story/",
        "2019-11-19T08:57:40+01:00",
        "Write to Jane Doe at jane.doe@example.com",
        "Reach the reporter on Twitter at https://twitter.com/janedoe",
        "Associated Press writers John Smith and Mary Jones contributed to this report.",
        "Additional reporting by Joseph Hudak",
        "This copy is for your personal, non-commercial use only.",
        "Order Reprints\nPrint Article",
        "Tags\nbuses, council, transport",
        "Photo: Jane Doe / Reuters",
        "Lesen Sie auch: Der Bus kommt",
        "Leia também: Prefeitura anuncia novas linhas",
    ],
)
def test_boilerplate_text_rules(text):
    assert is_boilerplate_text(text)


@pytest.mark.parametrize(
    "text",
    [
        PARAS[0],
        # long prose that merely mentions newsletters, cookies, sharing or comments is article text
        ("The company, which sends a weekly newsletter to two million readers, said it would sign up new "
        "partners next year and share more of its data with researchers who study how people read news "
        "online, according to a statement published on Monday by its chief executive in a long blog post "
        "about the future of the business and its readers."),
        "Read the full report, which runs to 300 pages and was published on Tuesday after a delay of months.",
        "The share price fell 3% on Tuesday.",
        "Comments from residents were overwhelmingly positive.",
    ],
)
def test_article_text_is_not_boilerplate(text):
    assert not is_boilerplate_text(text)


def test_read_more_of_this_headline_is_left_for_dedupe_to_count():
    title_key = "council approves bus expansion"
    assert not is_boilerplate_text("Read more: Council approves bus expansion", (title_key,))
    assert is_boilerplate_text("Read more: Council rejects tram plan", (title_key,))


def raw(kind: str, text: str, **kw) -> RawBlock:
    return RawBlock(kind, text, **kw)


def test_related_section_after_the_article_is_removed():
    blocks = [raw("paragraph", t) for t in PARAS] + [
        raw("heading", "Related stories"),
        raw("list", "Tram plan rejected\nNew station opens", items=2, link_items=2, link_chars=34),
        raw("paragraph", "Bus drivers vote to strike"),
    ]
    kept, removed = strip_boilerplate(blocks)
    assert [b.text for b in kept] == PARAS and removed == 3


def test_trailing_link_lists_and_teasers_are_removed():
    teasers = raw("list", "Tram plan rejected A short blurb\nNew station opens Another blurb", items=2,
                  lead_link_items=2, link_chars=34)
    link_line = raw("paragraph", "Mayor unveils budget", link_chars=20)
    kept, removed = strip_boilerplate([raw("paragraph", t) for t in PARAS] + [teasers, link_line])
    assert [b.text for b in kept] == PARAS and removed == 2


def test_a_list_inside_the_article_is_kept():
    inner = raw("list", "Four new routes\nBuses every ten minutes\nNo fare rise", items=3)
    blocks = [raw("paragraph", PARAS[0]), inner, raw("paragraph", PARAS[1])]
    kept, removed = strip_boilerplate(blocks)
    assert kept == blocks and removed == 0


def test_label_mid_article_does_not_eat_the_article():
    blocks = [
        raw("paragraph", PARAS[0]),
        raw("heading", "Most read in world news"),
        raw("paragraph", "Authorities instituted a quarantine to prevent the disease from spreading."),
        raw("paragraph", PARAS[1]),
    ]
    kept, removed = strip_boilerplate(blocks)
    assert [b.text for b in kept] == [PARAS[0], blocks[2].text, PARAS[1]] and removed == 1


# -- boilerplate end to end ------------------------------------------------------------------


def test_share_bar_comment_form_and_footer_removed_from_a_page():
    html = page(
        BODY
        + '<div class="share"><h3>Share this:</h3><ul><li><a href="#">Twitter</a></li>'
        "<li><a href=\"#\">Facebook</a></li></ul></div>"
        '<div id="respond"><h2>Leave a Reply</h2><form><p>Your email address will not be published. '
        "Required fields are marked *</p><input type=submit value=\"Post Comment\"></form></div>"
        "<p>Read more: Council rejects tram plan for the old town</p>"
        "<p>Sign up for our newsletter to get the best stories in your inbox.</p>"
        "<footer><p>\u00a9 2024 City Times. All rights reserved.</p></footer>"
    )
    article = extract_article(html, "https://news.example/a")
    assert article.boilerplate_blocks >= 3  # plain trafilatura leaves "Leave a Reply", "Read more", the newsletter
    text = render_text(dedupe_article(article).blocks)
    for phrase in ("Share this", "Leave a Reply", "Your email address", "Read more", "newsletter", "All rights"):
        assert phrase not in text, phrase
    assert text.startswith(PARAS[0]) and text.endswith(PARAS[-1])


def test_byline_and_dateline_in_the_body_are_removed():
    head = '<meta name="author" content="Jane Doe">'
    html = page("<p>By Jane Doe</p><p>Updated: Tue., Nov. 19, 2019 5:45 AM</p>" + BODY, head)
    article = extract_article(html, "https://news.example/a")
    assert [b.text for b in article.blocks[:2]] == ["Council approves bus expansion", PARAS[0]]  # h1, then text
    assert article.boilerplate_blocks >= 2
    assert article.authors == ["Jane Doe"]


def test_captions_are_not_mixed_into_paragraphs():
    html = page(
        f"<p>{PARAS[0]}</p><figure><img src='a.jpg'><figcaption>Buses wait at the central station on Monday. "
        f"(Photo: Jane Doe/City Times)</figcaption></figure><p>{PARAS[1]}</p><div class='wp-caption'>"
        f"<img src='b.jpg'><p class='wp-caption-text'>The new N1 route map shown to councillors.</p></div>"
        f"<p>{PARAS[2]}</p><p>{PARAS[3]}</p>"
    )
    assert extract_text(html) == "\n\n".join(PARAS)


# -- blocks -----------------------------------------------------------------------------------


def test_blocks_keep_types_lists_tables_and_quotes():
    html = page(
        f"<p>{PARAS[0]}</p><h2>What changes</h2><ul><li>Four new routes</li><li>Buses every ten minutes</li></ul>"
        f"<p>{PARAS[1]}</p><blockquote><p>This is the biggest change to our buses in a generation.</p></blockquote>"
        f"<p>{PARAS[2]}</p><table><tr><th>Route</th><th>Start</th></tr><tr><td>N1</td><td>April</td></tr>"
        f"<tr><td>N2</td><td>May</td></tr></table><p>{PARAS[3]}</p>"
    )
    blocks = extract_article(html, "https://news.example/a").blocks
    kinds = {b.text: b.type for b in blocks}
    assert kinds["What changes"] == "heading"
    assert Block("list", "Four new routes\nBuses every ten minutes") in blocks
    assert Block("quote", "This is the biggest change to our buses in a generation.") in blocks
    assert Block("table", "Route | Start\nN1 | April\nN2 | May") in blocks
    assert render_text(blocks) == "\n\n".join(b.text for b in blocks)


def test_layout_table_is_flattened_into_the_article_flow():
    # old table layouts: the whole story sits in one cell, headline and byline first
    cell = (
        "<h1>Council approves bus expansion</h1><h3>by Jane Doe<br>Monday, November 18, 2019</h3>"
        + BODY
        + "<b>Top stories</b><p>Mayor opens new library in the east end.</p>"
    )
    html = page(f"<table><tr><td></td><td>{cell}</td></tr></table>", '<meta name="author" content="Jane Doe">')
    html = html.replace("<h1>Council approves bus expansion</h1>", "", 1)  # the page() h1 outside the table
    assert extract_text(html) == "\n\n".join(PARAS)


# -- metadata -----------------------------------------------------------------------------------


def test_json_ld_metadata():
    head = (
        '<script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"NewsArticle",'
        '"headline":"Council approves bus expansion","datePublished":"2019-11-19T05:45:00-08:00",'
        '"author":[{"@type":"Person","name":"By Jane Doe, Senior Correspondent"},{"@type":"Person","name":"John Roe"}],'
        '"publisher":{"@type":"Organization","name":"City Times"},"keywords":"transport, council",'
        '"inLanguage":"en-GB","image":{"@type":"ImageObject","url":"/img/bus.jpg"}}]}</script>'
        '<link rel="canonical" href="/2019/11/19/bus-expansion">'
    )
    html = page(BODY, head, lang="")
    article = extract_article(html, "https://www.citytimes.example/x?utm=1")
    assert article.title == "Council approves bus expansion"
    assert article.authors == ["Jane Doe", "John Roe"]
    assert article.published == "2019-11-19T05:45:00-08:00"
    assert article.site_name == "City Times"
    assert article.language == "en"
    assert article.canonical_url == "https://www.citytimes.example/2019/11/19/bus-expansion"
    assert article.image == "https://www.citytimes.example/img/bus.jpg"
    assert article.tags == ["transport", "council"]


def test_meta_tag_fallbacks_and_host_as_site_name():
    head = (
        '<meta property="article:published_time" content="2019-11-19">'
        '<meta property="article:tag" content="Buses"><meta name="description" content="The vote.">'
    )
    article = extract_article(page(BODY, head, lang="pt-BR"), "https://www.example.com.br/noticia")
    assert article.published == "2019-11-19"
    assert article.site_name == "example.com.br"
    assert article.language == "pt"
    assert article.tags == ["Buses"] and article.description == "The vote."
    assert article.canonical_url is None


def test_rss_style_date_in_a_meta_tag():
    head = '<meta name="pubdate" content="Tue, 19 Nov 2019 05:45:00 GMT">'
    assert extract_article(page(BODY, head), "https://n.example/a").published == "2019-11-19T05:45:00+00:00"


def test_time_without_offset_gives_the_date_only():
    head = '<meta property="article:published_time" content="2019-11-19T05:45:00">'
    assert extract_article(page(BODY, head), "https://n.example/a").published == "2019-11-19"


def test_title_without_the_site_suffix():
    html = page(BODY, '<meta property="og:site_name" content="City Times">', title="Council approves bus expansion")
    html = html.replace("<title>Council approves bus expansion</title>",
                        "<title>Council approves bus expansion | City Times</title>")
    html = html.replace("<h1>Council approves bus expansion</h1>", "")
    assert extract_article(html, "https://n.example/a").title == "Council approves bus expansion"


@pytest.mark.parametrize(
    ("raw_names", "expected"),
    [
        (["By Jane Doe"], ["Jane Doe"]),
        (["BY JANE DOE"], ["Jane Doe"]),
        (["Jane Doe, Senior Correspondent"], ["Jane Doe"]),
        (["By Jane Doe and John Roe"], ["Jane Doe", "John Roe"]),
        (["Jane Doe", "jane doe", "Jane  Doe"], ["Jane Doe"]),
        (["Staff Reporter"], ["Staff Reporter"]),
        (["Von Anna Schmidt"], ["Anna Schmidt"]),
        (["https://facebook.com/janedoe"], []),
        (["Jane Doe jane@example.com"], ["Jane Doe"]),
        (["Analysis by Chris Cillizza, CNN Editor-at-large"], ["Chris Cillizza"]),
        (["Ilana Muhlstein, MS, RDN"], ["Ilana Muhlstein"]),
        (["Bruce Y. Lee"], ["Bruce Y. Lee"]),
        (["ERIC TUCKERAssociated Press"], ["Eric Tucker", "Associated Press"]),
        (["by Jeff FoustMonday, November 18, 2019"], ["Jeff Foust"]),
        (["Milan Griffes on September 12"], []),
        (["Steve Peoples, AP National Political Writer"], ["Steve Peoples"]),
    ],
)
def test_authors_are_cleaned(raw_names, expected):
    assert clean_authors(raw_names) == expected


# -- other languages ------------------------------------------------------------------------------


def test_non_english_page_comes_out_whole():
    paras = [
        ("Der Stadtrat hat am Dienstag beschlossen, das Busnetz in die nördlichen Vororte auszubauen, ein Plan, "
        "über den seit mehr als drei Jahren gestritten wurde und den viele Anwohner lange gefordert hatten."),
        ("Nach dem Plan sollen im nächsten Frühjahr vier neue Linien starten, die die Vororte mit dem Hauptbahnhof "
        "und dem Klinikviertel verbinden, in Spitzenzeiten im Zehn-Minuten-Takt."),
        ("Gegner hielten das Geld für besser angelegt in der Sanierung bestehender Straßen, doch der Antrag wurde "
        "nach einer langen und teils hitzigen öffentlichen Sitzung mit klarer Mehrheit angenommen."),
    ]
    html = page(
        "".join(f"<p>{t}</p>" for t in paras) + "<p>Lesen Sie auch: Straßenbahn-Pläne gestoppt</p>",
        lang="de-DE",
        title="Stadtrat beschließt Ausbau des Busnetzes",
    )
    article = extract_article(html, "https://zeitung.example/artikel")
    assert article.language == "de"
    assert article.title == "Stadtrat beschließt Ausbau des Busnetzes"
    assert article.boilerplate_blocks == 1  # "Lesen Sie auch: ..."
    assert render_text(dedupe_article(article).blocks) == "\n\n".join(paras)


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("html", ["", "   ", "<html><body></body></html>", "<html><body><nav>Home</nav></body></html>"])
def test_no_article_text_raises_empty_text(html):
    with pytest.raises(EmptyText):
        extract_article(html, "https://n.example/a")


def test_non_string_input_is_empty_text():
    with pytest.raises(EmptyText):
        extract_article(None)  # type: ignore[arg-type]


def test_extractor_crash_becomes_extract_failed(monkeypatch):
    import trafilatura

    def boom(*args, **kwargs):
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(trafilatura, "bare_extraction", boom)
    with pytest.raises(ExtractFailed):
        extract_article(page(BODY), "https://n.example/a")


@pytest.mark.parametrize(
    "html",
    ["<<<>>>", "\x00\x01\x02", "<p>" * 5000, "<?xml version='1.0'?><rss></rss>", "just some plain words"],
)
def test_garbage_never_raises_anything_but_extract_errors(html):
    with contextlib.suppress(EmptyText, ExtractFailed):
        extract_article(html, "https://n.example/a")


def test_fast_mode_meets_the_seed_expectations_too():
    article = extract_article(SEED_HTML.read_text(encoding="utf-8"), SEED_URL, fast=True)
    deduped = dedupe_article(article)
    record = {
        "title": article.title,
        "text": render_text(deduped.blocks),
        "blocks": [{"type": b.type, "text": b.text} for b in deduped.blocks],
        "published": article.published,
        "authors": article.authors,
        "site_name": article.site_name,
        "language": article.language,
    }
    assert_seed_record(record, entities=False)

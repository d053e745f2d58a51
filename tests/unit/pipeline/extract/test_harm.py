"""Do no harm: judgement rules, candidate selection when the extraction looks incomplete, --explain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lxml import html as lxml_html

from workers.pipeline.explain import explain_extraction, format_explanation
from workers.pipeline.extract._blocks import RawBlock
from workers.pipeline.extract._boilerplate import strip_boilerplate
from workers.pipeline.extract._candidates import choose_blocks, looks_incomplete, page_prose_chars

LONG = [
    ("Northwind Cycles today announced the Aero 5, a lightweight electric bicycle with a range of 120 kilometres "
     "and a frame made from recycled aluminium, which goes on sale in May."),
    ("The Aero 5 uses a mid-drive motor and a removable battery that charges fully in three hours, and it will be "
     "sold through about 300 independent bike shops across the country."),
    ("Riders told the company they wanted an electric bike light enough to carry up a flight of stairs, and at "
     "sixteen kilograms it is the lightest bike Northwind has built so far."),
    ("Analysts expect the price of electric bicycles to keep falling as battery costs drop, and several rivals are "
     "preparing lighter models of their own for the summer season this year."),
]


def raw(kind: str, text: str, **kw) -> RawBlock:
    return RawBlock(kind, text, **kw)


def prose() -> list[RawBlock]:
    return [raw("paragraph", t) for t in LONG]


# -- judgement rules: specific lines kept, generic ones removed within the budget -----------------


def test_a_closing_line_naming_the_articles_product_is_kept():
    line = raw("paragraph", "For more information on the Aero 5, please visit www.northwind.example.")
    kept, removed = strip_boilerplate([*prose(), line])
    assert kept[-1] is line and removed == 0


def test_a_generic_prompt_with_an_address_is_removed():
    line = raw("paragraph", "For more stories like this, visit www.example.com")
    removals = []
    kept, removed = strip_boilerplate([*prose(), *prose(), line], removals=removals)
    assert line not in kept and removed == 1
    assert [(r.stage, r.rule) for r in removals] == [("boilerplate", "prompt-with-address")]


def test_a_click_here_line_about_the_articles_subject_is_kept_a_generic_one_goes():
    specific = raw("paragraph", "Click here to download the Aero 5 brochure.")
    generic = raw("paragraph", "Click here to subscribe.")
    kept, _ = strip_boilerplate([*prose(), specific, *prose(), generic])
    assert specific in kept and generic not in kept


def test_judgement_rules_never_take_more_than_five_percent_of_a_short_article():
    short = [raw("paragraph", "Health officials reported a sixth death from the virus on Monday in the county.")]
    notice = raw("paragraph",
                 "© 2019 Wire Agency. All Rights Reserved. This material may not be published or broadcast.")
    kept, removed = strip_boilerplate([*short, notice])
    assert notice in kept and removed == 0
    # the same notice under a long article is a small share of it: removed
    long_article = prose() * 3
    kept, removed = strip_boilerplate([*long_article, notice])
    assert notice not in kept and removed == 1


def test_confident_rules_are_not_limited_by_the_budget():
    short = [raw("paragraph", "Health officials reported a sixth death from the virus on Monday in the county.")]
    kept, removed = strip_boilerplate([*short, raw("paragraph", "Share this article")])
    assert len(kept) == 1 and removed == 1


def test_a_trailing_call_to_action_naming_the_articles_results_is_kept():
    results = raw("paragraph", "Click for full Aero 5 test results", link_chars=34)
    kept, _ = strip_boilerplate([*prose(), results])
    assert kept[-1] is results
    teaser = raw("paragraph", "Rival unveils cargo bike for families", link_chars=37)
    kept, _ = strip_boilerplate([*prose(), teaser])
    assert teaser not in kept


def test_product_links_are_kept_related_headlines_removed():
    products = raw("list",
                   "Aero 5 electric bicycle, $2,499\nAero 5 removable battery, $399\nNorthwind bicycle lights, $49",
                   items=3, link_items=3, link_chars=90)
    related = raw("list", "Harbor Foods reports record first quarter revenue\nCascade Energy opens third solar farm\n"
                  "Pine Labs names new technology chief from rival", items=3, link_items=3, link_chars=130)
    kept, _ = strip_boilerplate([*prose(), products])
    assert kept[-1] is products
    kept, _ = strip_boilerplate([*prose(), related])
    assert related not in kept


# -- candidate selection ------------------------------------------------------------------------------


def _tree(body: str):
    return lxml_html.fromstring(f"<html><body>{body}</body></html>")


def test_page_prose_ignores_page_chrome():
    long_p = "<p>" + LONG[0] + "</p>"
    tree = _tree(f"<nav>{long_p}</nav><footer>{long_p}</footer><div>{long_p}<p>Short caption.</p></div>")
    assert page_prose_chars(tree) == len(LONG[0])


def test_page_prose_ignores_reader_comments():
    long_p = "<p>" + LONG[0] + "</p>"
    tree = _tree(f'<div class="article">{long_p}</div><div id="comments"><div class="c">{long_p}{long_p}</div></div>')
    assert page_prose_chars(tree) == len(LONG[0])


def test_short_extraction_against_a_long_page_looks_incomplete():
    base = [raw("paragraph", LONG[0])]
    assert looks_incomplete(base, LONG * 3)
    assert not looks_incomplete(prose() * 3, LONG * 3)  # all the page's prose is in it
    assert not looks_incomplete(base, LONG[:2])  # too little prose on the page to judge


def test_an_extraction_that_stops_before_the_rest_of_the_prose_looks_incomplete():
    page = [*LONG, *(t.replace("a", "o") for t in LONG), *(t.replace("e", "i") for t in LONG)]
    stops_early = [raw("paragraph", t) for t in page[:8]]
    assert looks_incomplete(stops_early, page)
    assert not looks_incomplete([raw("paragraph", t) for t in page], page)
    # prose missing only before what it has (a teaser above the article) is not a cut-off body
    assert not looks_incomplete([raw("paragraph", t) for t in page[2:]], page)


def test_a_candidate_extending_the_extraction_replaces_it():
    tree = _tree("".join(f"<p>{t}</p>" for t in LONG))
    base = [raw("paragraph", LONG[0])]
    blocks, choice = choose_blocks(base, prose(), tree)
    assert choice == "readability" and [b.text for b in blocks] == LONG


def test_a_candidate_reading_another_part_joins_in_page_order():
    tree = _tree("".join(f"<p>{t}</p>" for t in LONG))
    base = [raw("paragraph", LONG[0]), raw("paragraph", LONG[1])]
    candidate = [raw("paragraph", LONG[2]), raw("paragraph", LONG[3]), raw("paragraph", "More Great Stories")]
    blocks, choice = choose_blocks(base, candidate, tree)
    assert choice == "default+readability" and [b.text for b in blocks] == LONG


def test_a_candidate_that_adds_little_or_only_links_is_ignored():
    tree = _tree("".join(f"<p>{t}</p>" for t in LONG))
    base = prose()[:3]
    assert choose_blocks(base, [raw("paragraph", "Sign up"), *prose()[:3]], tree)[1] == "default"
    links = [raw("paragraph", LONG[3], link_chars=len(LONG[3]))]
    assert choose_blocks(base, links, tree) == (base, "default")


# -- explain ------------------------------------------------------------------------------------------


PAGE = (
    "<html><head><title>Northwind launches the Aero 5</title></head><body><article>"
    "<h1>Northwind launches the Aero 5</h1>" + "".join(f"<p>{t}</p>" for t in LONG)
    + "<p>Share this article</p><h2>Northwind launches the Aero 5</h2></article></body></html>"
)


def test_explain_lists_each_removed_block_with_its_rule():
    explanation = explain_extraction(PAGE, "https://news.example/aero")
    rules = {(r.stage, r.rule, r.text) for r in explanation.removals}
    assert ("boilerplate", "template-section-label", "Share this article") in rules
    assert any(stage == "dedupe" and rule == "title-repeat" for stage, rule, _ in rules)
    assert "Share this article" in explanation.base_text and "Share this article" not in explanation.text
    listing = format_explanation(explanation, "page.html")
    assert "[boilerplate:template-section-label] paragraph: Share this article" in listing


def test_newswire_extract_explain_prints_the_removals(tmp_path: Path):
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "workers.cli", "extract", "--explain", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[boilerplate:template-section-label] paragraph: Share this article" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "workers.cli", "extract", "--explain", str(tmp_path / "no.html")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "failed: ExtractFailed" in missing.stdout


# -- datelines and liveblog time stamps -------------------------------------------------------------


def _article(body: str) -> str:
    return (f"<html><head><title>Transit strike live</title></head><body><article><h1>Transit strike live</h1>"
            f"{body}</article></body></html>")


def test_liveblog_time_stamps_each_followed_by_an_entry_are_kept():
    stamps = ("08:05", "08:40", "09:15")
    entries = "".join(f"<p>{stamp}</p><p>{text}</p>" for stamp, text in zip(stamps, LONG[:3], strict=True))
    explanation = explain_extraction(_article(entries))
    assert [r.rule for r in explanation.removals if r.rule == "byline-or-dateline"] == []
    assert {"08:05", "08:40", "09:15"} <= set(explanation.text.split("\n\n"))


def test_datelines_at_the_top_are_still_removed():
    head = "<p>March 3, 2024</p><p>Updated 10:05 AM</p><p>Posted 09:30</p>"
    explanation = explain_extraction(_article(head + "".join(f"<p>{t}</p>" for t in LONG)))
    removed = [r.text for r in explanation.removals if r.rule == "byline-or-dateline"]
    assert removed == ["March 3, 2024", "Updated 10:05 AM", "Posted 09:30"]


def test_a_follow_prompt_naming_the_subject_is_still_template():
    follow = raw("paragraph", "Follow our full coverage of the Aero 5 and Northwind at https://news.example/aero")
    kept, removed = strip_boilerplate([*prose(), *prose(), follow])
    assert follow not in kept and removed == 1


def test_a_copyright_notice_is_removed_even_when_it_names_words_of_the_article():
    notice = raw("paragraph", "Copyright 2019 Northwind Cycles. All Rights Reserved")
    kept, _ = strip_boilerplate([*prose(), *prose(), *prose(), notice])
    assert notice not in kept

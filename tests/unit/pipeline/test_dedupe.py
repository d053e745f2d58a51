"""Dedupe stage: each rule on small hand-written block lists."""

from __future__ import annotations

import pytest

from workers.pipeline.dedupe import DedupeResult, dedupe_article, dedupe_blocks
from workers.pipeline.extract import Block, ExtractedArticle

TITLE = "Blinken seeks to advance Gaza peace talks amid rising tensions"
P1 = (
    "U.S. Secretary of State Antony Blinken arrived in Israel on Wednesday to meet with Israeli leaders "
    "and discuss the prospects of a cease-fire."
)
P2 = "Blinken, who is on his fifth visit to the region since the war broke out, held talks in Tel Aviv."
P3 = "Netanyahu rejected the idea of a humanitarian pause in the fighting, officials said on Thursday."


def p(text: str) -> Block:
    return Block("paragraph", text)


def h(text: str) -> Block:
    return Block("heading", text)


def texts(result: DedupeResult) -> list[str]:
    return [b.text for b in result.blocks]


def test_removed_has_exactly_the_documented_keys():
    result = dedupe_blocks([p(P1)], TITLE)
    assert set(result.removed) == {"title_repeats", "duplicate_headings", "duplicate_paragraphs"}
    assert texts(result) == [P1]


@pytest.mark.parametrize(
    "repeat",
    [
        TITLE,
        TITLE.upper(),
        "  blinken SEEKS to advance gaza peace-talks, amid rising tensions!  ",
        "\u201cBlinken seeks to advance Gaza peace talks amid rising tensions\u201d",  # curly quotes
        "Blinken seeks to advance Gaza peace talks amid rising\u00a0tensions",  # NBSP
        "Ｂlinken seeks to advance Gaza peace talks amid rising tensions",  # fullwidth B (NFKC)
        "Blinken seeks to advance Gaza peace talks...",  # cut with an ellipsis
        "Blinken seeks to advance Gaza peace talks amid\u2026",
        "Read more: Blinken seeks to advance Gaza peace talks amid rising tensions",
        "ALSO READ | Blinken seeks to advance Gaza peace talks amid rising tensions",
        "Read more: Blinken seeks to advance Gaza peace talks\u2026",
        "Blinken seeks to advance Gaza peace talks amid rising tensions | The Daily Ledger",
        "Middle East - Blinken seeks to advance Gaza peace talks amid rising tensions",
        "Home > World > Blinken seeks to advance Gaza peace talks amid rising tensions",
        "Blinken seeks to advance Gaza peace talks amid rising tensions Share Tweet Email 12 Comments",
        # site/section affixes joined by the other separators templates use
        "Blinken seeks to advance Gaza peace talks amid rising tensions » The Daily Ledger",
        "Blinken seeks to advance Gaza peace talks amid rising tensions · The Daily Ledger",
        "Blinken seeks to advance Gaza peace talks amid rising tensions: The Daily Ledger",
        "Blinken seeks to advance Gaza peace talks amid rising tensions / The Daily Ledger",
        "Blinken seeks to advance Gaza peace talks amid rising tensions :: The Daily Ledger",
        "World :: Blinken seeks to advance Gaza peace talks amid rising tensions",
        "Home » News » World » Blinken seeks to advance Gaza peace talks amid rising tensions",
        "Home / World / Middle East / Blinken seeks to advance Gaza peace talks amid rising tensions",
        "Read more » Blinken seeks to advance Gaza peace talks amid rising tensions · The Daily Ledger",
    ],
)
def test_every_form_of_the_title_is_removed(repeat):
    for block in (p(repeat), h(repeat), Block("quote", repeat)):
        result = dedupe_blocks([block, p(P1), p(P2)], TITLE)
        assert texts(result) == [P1, P2], repeat
        assert result.removed["title_repeats"] == 1


def test_title_as_a_heading_with_a_kicker_is_removed():
    result = dedupe_blocks([h("World news | " + TITLE), p(P1)], TITLE)
    assert texts(result) == [P1] and result.removed["title_repeats"] == 1


def test_title_line_inside_a_list_goes_the_rest_of_the_list_stays():
    crumbs = Block("list", "Home\nWorld\n" + TITLE)
    result = dedupe_blocks([crumbs, p(P1)], TITLE)
    assert result.blocks[0] == Block("list", "Home\nWorld")
    assert result.removed["title_repeats"] == 1


def test_title_leading_a_block_is_cut_and_the_text_kept():
    merged = p(f"{TITLE}\nby Jane Doe, November 18, 2019. {P1}")
    result = dedupe_blocks([merged], TITLE)
    assert texts(result) == [f"by Jane Doe, November 18, 2019. {P1}"]
    assert result.removed["title_repeats"] == 1


def test_alternative_title_forms_are_removed_too():
    og_title = "Blinken in Israel to push Gaza truce talks"
    result = dedupe_blocks([h(og_title), p(P1)], TITLE, alt_titles=[og_title])
    assert texts(result) == [P1] and result.removed["title_repeats"] == 1
    article = ExtractedArticle(
        title=TITLE, blocks=[h(og_title), p(P1)], authors=[], published=None, site_name=None, language=None,
        description=None, canonical_url=None, tags=[], image=None, boilerplate_blocks=0, title_variants=[og_title],
    )
    assert texts(dedupe_article(article)) == [P1]


def test_sentence_that_mentions_the_title_words_is_kept():
    # the headline's words inside a real sentence are the article, not a repeat
    sentence = (f"Officials said that {TITLE.lower()} was the wrong way to describe a week of quiet diplomacy "
                "in the region.")
    result = dedupe_blocks([p(sentence), p(P1)], TITLE)
    assert texts(result) == [sentence, P1] and result.removed["title_repeats"] == 0
    # and a title that begins a sentence which goes on is not cut
    ongoing = f"{TITLE} is how one diplomat summed up a week of quiet talks across the region on Friday."
    assert texts(dedupe_blocks([p(ongoing)], TITLE)) == [ongoing]


def test_short_title_words_are_not_treated_as_a_title():
    result = dedupe_blocks([p("Gaza talks resumed on Monday in Cairo after a pause."), p(P1)], "Gaza talks")
    assert len(result.blocks) == 2


def test_a_repeated_heading_over_the_same_text_is_a_copy_and_goes():
    blocks = [h("Talks in Tel Aviv"), p(P1), h("Hamas responds"), p(P2), h("talks in tel aviv!"), p(P1), h("End")]
    result = dedupe_blocks(blocks, TITLE)
    # the heading goes; the short paragraph repeated with text in between is the text's own
    assert texts(result) == ["Talks in Tel Aviv", P1, "Hamas responds", P2, P1, "End"]
    assert result.removed["duplicate_headings"] == 1


def test_a_repeated_heading_that_labels_nothing_goes():
    blocks = [h("Talks in Tel Aviv"), p(P1), p(P2), h("Talks in Tel Aviv")]
    result = dedupe_blocks(blocks, TITLE)
    assert texts(result) == ["Talks in Tel Aviv", P1, P2]
    assert result.removed["duplicate_headings"] == 1


def test_repeated_short_headings_labelling_new_text_are_the_articles_structure():
    blocks = [h("Day 1"), h("Breakfast"), p("Eat slowly."), p("Oats with berries."), h("Lunch"), p("Lentil soup."),
              h("Day 2"), h("Breakfast"), p("Eat slowly."), p("Eggs on toast."), h("Lunch"), p("Chicken salad.")]
    result = dedupe_blocks(blocks, TITLE)
    assert texts(result) == [b.text for b in blocks]
    assert result.removed == {"title_repeats": 0, "duplicate_headings": 0, "duplicate_paragraphs": 0}


def test_heading_that_repeats_an_earlier_block_is_removed():
    short = "Hostage deal within reach, Blinken says."
    result = dedupe_blocks([p(short), p(P1), h(short), p(P2)], TITLE)
    assert texts(result) == [short, P1, P2]
    assert result.removed["duplicate_headings"] == 1


def test_table_of_contents_is_removed_headings_stay():
    toc = Block("list", "Talks in Tel Aviv\nHamas responds")
    blocks = [toc, h("Talks in Tel Aviv"), p(P1), h("Hamas responds"), p(P2)]
    result = dedupe_blocks(blocks, TITLE)
    assert texts(result) == ["Talks in Tel Aviv", P1, "Hamas responds", P2]
    assert result.removed["duplicate_headings"] == 2


def test_ordinary_list_is_not_mistaken_for_a_table_of_contents():
    items = Block("list", "Talks in Tel Aviv\nA cease-fire of several weeks")
    result = dedupe_blocks([items, h("Talks in Tel Aviv"), p(P1)], TITLE)
    assert result.blocks[0] == items


def test_consecutive_duplicate_paragraphs_are_dropped():
    result = dedupe_blocks([p(P1), p(P1), p(" " + P1.upper()), p(P2)], TITLE)
    assert texts(result) == [P1, P2]
    assert result.removed["duplicate_paragraphs"] == 2


def test_genuine_repeated_sentences_are_kept():
    refrain = "We will not give up."
    blocks = [p(refrain), p(P1), p(refrain), p(P2), p(f"{P3} {refrain}"), p(f"Later she said: {refrain}")]
    result = dedupe_blocks(blocks, TITLE)
    assert texts(result) == [b.text for b in blocks]
    assert result.removed == {"title_repeats": 0, "duplicate_headings": 0, "duplicate_paragraphs": 0}


def test_long_paragraph_repeated_later_is_a_template_copy():
    long_paragraph = f"{P1} {P2} {P3}"
    result = dedupe_blocks([p(long_paragraph), p("Something else happened then."), p(long_paragraph)], TITLE)
    assert texts(result) == [long_paragraph, "Something else happened then."]
    assert result.removed["duplicate_paragraphs"] == 1


def test_pull_quote_repeating_the_text_is_removed_other_quotes_kept():
    quote = "\u201cWe have a real opportunity here to make tangible progress,\u201d"
    body = p(f"{quote} Blinken said at a joint press conference with Netanyahu on Wednesday evening.")
    pull = Block("quote", "We have a real opportunity here to make tangible progress")
    real_quote = Block("quote", "This is a quote that appears only once in the whole article text.")
    result = dedupe_blocks([p(P1), pull, body, real_quote], TITLE)
    assert pull not in result.blocks and real_quote in result.blocks and body in result.blocks
    assert result.removed["duplicate_paragraphs"] == 1


def test_no_title_means_no_title_rule():
    result = dedupe_blocks([p(P1), p(P2)], None)
    assert texts(result) == [P1, P2]


def test_input_blocks_are_not_mutated():
    blocks = [p(f"{TITLE}\n{P1}"), p(P2)]
    snapshot = [Block(b.type, b.text) for b in blocks]
    dedupe_blocks(blocks, TITLE)
    assert blocks == snapshot


def test_a_repeated_run_of_blocks_is_a_second_copy_of_the_page():
    run = [p("Good morning!"), p(P1), h("Markets")]
    blocks = [*run, p(P2), p(P3), *run, p("The end of the day's news.")]
    result = dedupe_blocks(blocks, TITLE)
    assert texts(result) == ["Good morning!", P1, "Markets", P2, P3, "The end of the day's news."]
    assert result.removed["duplicate_paragraphs"] == 3
    # two blocks repeated are not a run
    pair = [p("Good morning!"), p(P2)]
    assert len(dedupe_blocks([*pair, p(P1), *pair], TITLE).blocks) == 5


def test_a_repeated_run_of_short_lines_is_structure_not_a_copy():
    # a meal plan: the same instructions under each meal, by design
    meal = [p("Eat every 2-3 hours."), p("Portion: 1 cup."), p("Drink a glass of water.")]
    blocks = [h("Breakfast"), *meal, h("Lunch"), *meal, h("Dinner"), *meal]
    result = dedupe_blocks(blocks, TITLE)
    assert texts(result) == [b.text for b in blocks]
    assert result.removed["duplicate_paragraphs"] == 0


def test_short_consecutive_repeats_stay_long_ones_go():
    blocks = [p("Repeat."), p("Repeat."), p(P1), p(P1)]
    result = dedupe_blocks(blocks, TITLE)
    assert texts(result) == ["Repeat.", "Repeat.", P1]
    assert [(r.rule, r.text) for r in result.removals] == [("consecutive-duplicate", P1)]


@pytest.mark.parametrize("separator", [" :: ", " / ", ": ", " \u00b7 ", " \u00bb "])
def test_a_short_title_with_a_site_suffix_is_removed_every_time(separator):
    title = "About bugs"
    blocks = [p(f"{title}{separator}The Daily Courier"), p(P1), h(f"{title}{separator}The Daily Courier"), p(P2),
              p(f"Read more: {title}")]
    result = dedupe_blocks(blocks, title)
    assert texts(result) == [P1, P2]
    assert result.removed["title_repeats"] == 3


"""Merging and normalisation of NER spans, on hand-written mentions (no model)."""

from __future__ import annotations

import pytest

from workers.pipeline.entities.merge import (
    RawMention,
    group_key,
    is_person_shaped,
    is_plausible_name,
    merge_mentions,
    trim_person_lead,
    trim_span,
    vote_entity_label,
    vote_label,
)


def spans(text: str, *items: tuple[str, str], field: str = "text") -> list[RawMention]:
    """RawMentions for each (surface, label), located at successive occurrences in ``text``."""
    out: list[RawMention] = []
    cursor: dict[str, int] = {}
    for surface, label in items:
        start = text.index(surface, cursor.get(surface, 0))
        # Not inside a span already placed: "Biden" is not the end of "Joe Biden".
        while any(m.start <= start < m.end for m in out):
            start = text.index(surface, start + 1)
        cursor[surface] = start + 1
        out.append(RawMention(surface, label, field, start, start + len(surface)))
    return out


def trimmed(text: str, surface: str, label: str = "GPE") -> str | None:
    start = text.index(surface)
    result = trim_span(text, start, start + len(surface), label)
    return None if result is None else text[result[0]:result[1]]


def by_name(entities):
    return {e.name: e for e in entities}


# -- normalisation of one span ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "surface", "label", "expected"),
    [
        ("It breached Israel's defenses.", "Israel's", "GPE", "Israel"),
        ("It breached Israel’s defenses.", "Israel’s", "GPE", "Israel"),
        ("most of Gaza’s population", "Gaza’s", "GPE", "Gaza"),
        ("it targeted Hamas’ infrastructure", "Hamas’", "ORG", "Hamas"),
        ("including the United Nations, and", "the United Nations", "ORG", "United Nations"),
        ("The European Union said", "The European Union", "ORG", "European Union"),
        ("a court in The Hague ruled", "The Hague", "GPE", "The Hague"),
        ("an interview with “Reuters”", "“Reuters”", "ORG", "Reuters"),
        ("the U.S. said", "U.S.", "GPE", "U.S."),
        ("He lives in Washington. Then", "Washington.", "GPE", "Washington"),
        ("shares of Acme Inc. fell", "Acme Inc.", "ORG", "Acme Inc."),
        ("said Mr. Smith today", "Mr. Smith", "PERSON", "Smith"),
        ("the Mr. Bean show", "Mr. Bean", "WORK_OF_ART", "Mr. Bean"),
        ("the Trump's allies", "the Trump's", "PERSON", "Trump"),
        ("the group’s Haqqani network", "’s Haqqani", "PERSON", "Haqqani"),
        ("Robert Jordan’s Wheel of Time", "Robert Jordan’s Wheel", "PERSON", "Robert Jordan"),
        ("visit Martha’s Vineyard soon", "Martha’s Vineyard", "LOC", "Martha’s Vineyard"),
        ("the Ministry of Energy (MOTIE) said", "Ministry of Energy (MOTIE", "ORG", "Ministry of Energy"),
        ("the Ministry of Energy (MOTIE) said", "Ministry of Energy (MOTIE)", "ORG", "Ministry of Energy (MOTIE)"),
        ("la région Provence-Alpes-Côte d'Azur a", "région Provence-Alpes-Côte d'Azur", "LOC",
         "Provence-Alpes-Côte d'Azur"),
        ("le département du Var", "département du Var", "GPE", "Var"),
        ("the province of Quebec", "province of Quebec", "GPE", "Quebec"),
        ("la région parisienne", "région parisienne", "LOC", "région parisienne"),
        ("la mer Noire", "mer Noire", "LOC", "mer Noire"),
        ("la ville de Paris", "ville de Paris", "ORG", "ville de Paris"),
    ],
)
def test_trim_span_normalises_the_name(text, surface, label, expected):
    assert trimmed(text, surface, label) == expected


def test_trim_span_drops_spans_without_a_word():
    assert trimmed("Gaza ’s border", "’s", "GPE") is None
    assert trimmed("Value: “ ” here", "“ ”", "ORG") is None


@pytest.mark.parametrize(
    ("surface", "label", "plausible"),
    [("Israel", "GPE", True), ("iPhone", "PRODUCT", True), ("n’t", "GPE", False), ("marijuana", "PERSON", False),
     ("P.O. Box 69440", "PERSON", False), ("Boeing 737", "PRODUCT", True), ("pic.twitter.com/4p7SX", "PERSON", False),
     ("Twitter @Spacedotcom", "PERSON", False), ("東京", "GPE", True), ("Москва", "GPE", True)],
)
def test_implausible_names_are_rejected(surface, label, plausible):
    assert is_plausible_name(surface, label) is plausible


def test_group_key_ignores_case_dots_and_apostrophe_style():
    assert group_key("U.S.") == group_key("US")
    assert group_key("O’Brien") == group_key("O'Brien")
    assert group_key("HAMAS") == group_key("Hamas")
    assert group_key("Tel  Aviv") == group_key("Tel Aviv")
    assert group_key("Israel") != group_key("Israeli")


def test_person_shape():
    assert is_person_shaped("Antony Blinken")
    assert is_person_shaped("Mohammed bin Salman")
    assert is_person_shaped("Blinken")
    assert not is_person_shaped("2024 Summer Olympics")
    assert not is_person_shaped("the Fed")


def test_vote_label_majority_then_person_preference():
    assert vote_label(["PERSON", "GPE", "PERSON"], "Blinken") == "PERSON"
    assert vote_label(["GPE", "GPE", "PERSON"], "Jordan") == "GPE"
    assert vote_label(["GPE", "PERSON"], "Blinken") == "PERSON"  # tie, person-shaped
    assert vote_label(["ORG", "GPE"], "Hamas") == "ORG"  # tie, earliest wins


# -- merging ---------------------------------------------------------------------------


def test_surname_merges_into_the_only_full_name_and_longest_form_is_the_name():
    text = "Blinken arrived. Antony Blinken met officials. Later Blinken left."
    entities = merge_mentions(
        spans(text, ("Blinken", "PERSON"), ("Antony Blinken", "PERSON"), ("Blinken", "PERSON")), text=text)
    [blinken] = entities
    assert blinken.name == "Antony Blinken"
    assert blinken.label == "PERSON"
    assert blinken.count == 3
    assert blinken.aliases == ["Blinken"]
    assert [text[m.start:m.end] for m in blinken.mentions] == ["Blinken", "Antony Blinken", "Blinken"]


def test_two_people_sharing_a_surname_stay_apart_and_the_bare_surname_is_not_guessed():
    text = "Joe Biden spoke. Hunter Biden listened. Biden later left."
    entities = by_name(merge_mentions(
        spans(text, ("Joe Biden", "PERSON"), ("Hunter Biden", "PERSON"), ("Biden", "PERSON")), text=text))
    assert set(entities) == {"Joe Biden", "Hunter Biden", "Biden"}
    assert all(e.count == 1 for e in entities.values())


def test_surname_merges_when_only_one_of_two_namesakes_contains_it():
    text = "Joe Biden met Hunter Smith. Biden smiled."
    entities = by_name(merge_mentions(
        spans(text, ("Joe Biden", "PERSON"), ("Hunter Smith", "PERSON"), ("Biden", "PERSON")), text=text))
    assert set(entities) == {"Joe Biden", "Hunter Smith"}
    assert entities["Joe Biden"].count == 2


def test_different_full_names_with_the_same_surname_never_merge():
    text = "Benny Gantz and Tal Gantz met."
    entities = merge_mentions(spans(text, ("Benny Gantz", "PERSON"), ("Tal Gantz", "PERSON")), text=text)
    assert sorted(e.name for e in entities) == ["Benny Gantz", "Tal Gantz"]


def test_surname_of_a_person_does_not_swallow_a_place_seen_as_a_place():
    text = "Michael Jordan flew to Amman. In Jordan he met the king. Jordan welcomed him."
    entities = by_name(merge_mentions(
        spans(text, ("Michael Jordan", "PERSON"), ("Jordan", "GPE"), ("Jordan", "GPE")), text=text))
    assert entities["Michael Jordan"].count == 1
    assert (entities["Jordan"].label, entities["Jordan"].count) == ("GPE", 1 + 1)


def test_place_context_is_overruled_by_an_honorific():
    text = "Michael Jordan spoke in Chicago. Back in Jordan's hometown, Mr. Jordan smiled."
    mentions = spans(text, ("Michael Jordan", "PERSON"), ("Chicago", "GPE"))
    for surface in ("Jordan's", "Jordan smiled"):
        start = text.index(surface)
        mentions.append(RawMention("Jordan", "GPE", "text", start, start + len("Jordan")))
    entities = by_name(merge_mentions(mentions, text=text))
    assert entities["Michael Jordan"].count == 3 and "Jordan" not in entities


def test_mislabelled_surname_mentions_follow_the_majority_and_merge():
    text = "Antony Blinken came. Blinken spoke. Blinken left. Blinken flew."
    entities = merge_mentions(spans(
        text, ("Antony Blinken", "PERSON"), ("Blinken", "PERSON"), ("Blinken", "GPE"), ("Blinken", "PERSON")),
        text=text)
    [blinken] = entities
    assert (blinken.name, blinken.label, blinken.count) == ("Antony Blinken", "PERSON", 4)


def test_non_person_names_are_not_merged_by_containment():
    text = "New York and York are different places."
    entities = merge_mentions(spans(text, ("New York", "GPE"), ("York", "GPE")), text=text)
    assert sorted(e.name for e in entities) == ["New York", "York"]


def test_acronym_merges_into_the_single_matching_name_of_the_same_label():
    text = "The United Nations said on Monday that the UN would help."
    entities = merge_mentions(spans(text, ("United Nations", "ORG"), ("UN", "ORG")), text=text)
    [un] = entities
    assert (un.name, un.count, un.aliases) == ("United Nations", 2, ["UN"])


def test_acronym_with_two_candidates_or_another_label_stays_apart():
    text = "United Nations and Union Network met. UN said so. The United States, not the U.S. team."
    entities = by_name(merge_mentions(spans(
        text, ("United Nations", "ORG"), ("Union Network", "ORG"), ("UN", "ORG"),
        ("United States", "GPE"), ("U.S.", "ORG")), text=text))
    assert {"United Nations", "Union Network", "UN", "United States", "U.S."} == set(entities)


def test_spelling_variants_of_one_name_are_one_entity():
    text = "U.S. officials and US diplomats; HAMAS and Hamas."
    entities = by_name(merge_mentions(
        spans(text, ("U.S.", "GPE"), ("US", "GPE"), ("HAMAS", "ORG"), ("Hamas", "ORG")), text=text))
    assert entities["U.S."].count == 2 and entities["U.S."].aliases == ["US"]
    assert sum(e.count for e in entities.values()) == 4 and len(entities) == 2


def test_salience_ranks_title_and_lead_above_the_tail():
    text = "Paris hosted talks.\n" + "Filler sentence here. " * 40 + "Berlin and Rome were mentioned."
    title = "Talks in Madrid"
    mentions = spans(title, ("Madrid", "GPE"), field="title") + spans(
        text, ("Paris", "GPE"), ("Berlin", "GPE"), ("Rome", "GPE"))
    entities = merge_mentions(mentions, text=text)
    assert [e.name for e in entities][:2] == ["Madrid", "Paris"]
    assert entities[0].salience > entities[1].salience > entities[2].salience
    assert abs(sum(e.salience for e in entities) - 1.0) < 1e-3


def test_salience_counts_repeated_mentions():
    text = "Oslo, Oslo and Oslo. Bergen once."
    entities = merge_mentions(spans(text, ("Oslo", "GPE"), ("Oslo", "GPE"), ("Oslo", "GPE"), ("Bergen", "GPE")),
                              text=text)
    assert entities[0].name == "Oslo" and entities[0].salience > 2 * entities[1].salience


def test_facts_merge_only_identical_readings():
    text = "On Tuesday, Tuesday's vote and last Tuesday."
    facts = merge_mentions(spans(text, ("Tuesday", "DATE"), ("Tuesday", "DATE"), ("last Tuesday", "DATE")),
                           text=text, merge_names=False)
    assert sorted((f.name, f.count) for f in facts) == [("Tuesday", 2), ("last Tuesday", 1)]


def test_no_mentions_give_no_entities():
    assert merge_mentions([], text="") == []


def test_surname_in_the_title_merges_with_the_full_name_in_the_text():
    title = "Blinken heads to Doha"
    text = "Secretary of State Antony Blinken flew to Doha."
    mentions = spans(title, ("Blinken", "PERSON"), ("Doha", "GPE"), field="title") + spans(
        text, ("Antony Blinken", "PERSON"), ("Doha", "GPE"))
    entities = by_name(merge_mentions(mentions, text=text))
    blinken = entities["Antony Blinken"]
    assert [(m.field, m.start, m.end) for m in blinken.mentions] == [("title", 0, 7), ("text", 19, 33)]
    assert entities["Doha"].count == 2


def test_honorific_and_possessive_forms_join_the_person():
    text = "Benjamin Netanyahu spoke. Mr. Netanyahu's office said Netanyahu would travel."
    raw = []
    for surface in ("Benjamin Netanyahu", "Mr. Netanyahu's", "Netanyahu"):
        start = text.index(surface, 0 if surface != "Netanyahu" else text.index("said"))
        s, e = trim_span(text, start, start + len(surface), "PERSON")
        raw.append(RawMention(text[s:e], "PERSON", "text", s, e))
    [person] = merge_mentions(raw, text=text)
    assert (person.name, person.count, person.aliases) == ("Benjamin Netanyahu", 3, ["Netanyahu"])


def test_multi_word_partial_name_merges_into_the_one_longer_name():
    text = "Mohammed bin Abdulrahman Al Thani met him. Al Thani later left."
    entities = merge_mentions(
        spans(text, ("Mohammed bin Abdulrahman Al Thani", "PERSON"), ("Al Thani", "PERSON")), text=text)
    [person] = entities
    assert person.name == "Mohammed bin Abdulrahman Al Thani" and person.count == 2


# -- merging across labels -------------------------------------------------------------


def test_surname_typed_as_org_or_gpe_joins_the_one_person_and_the_person_label_wins():
    text = ("Adam Neumann founded WeWork. Neumann said on Tuesday that Flow would grow. Investors backed Neumann. "
            "Neumann's critics remain. Gordon Sondland testified. Sondland told lawmakers he followed orders.")
    entities = by_name(merge_mentions(spans(
        text, ("Adam Neumann", "PERSON"), ("WeWork", "ORG"), ("Neumann", "ORG"), ("Flow", "ORG"),
        ("Neumann", "ORG"), ("Neumann", "ORG"), ("Gordon Sondland", "PERSON"), ("Sondland", "GPE")), text=text))
    assert set(entities) == {"Adam Neumann", "WeWork", "Flow", "Gordon Sondland"}
    neumann = entities["Adam Neumann"]
    # One full-name PERSON mention outvotes three ORG surname mentions.
    assert (neumann.label, neumann.count, neumann.aliases) == ("PERSON", 4, ["Neumann"])
    assert (entities["Gordon Sondland"].label, entities["Gordon Sondland"].count) == ("PERSON", 2)


def test_counts_and_salience_are_computed_after_the_cross_label_merge():
    text = "Lena Haverkamp leads the trial. Haverkamp expects approval. Haverkamp met Pfizer. Pfizer agreed."
    mentions = spans(text, ("Lena Haverkamp", "PERSON"), ("Haverkamp", "GPE"), ("Haverkamp", "ORG"),
                     ("Pfizer", "ORG"), ("Pfizer", "ORG"))
    typed_right = [RawMention(m.text, "PERSON" if "Haverkamp" in m.text else m.label, m.field, m.start, m.end)
                   for m in mentions]
    merged = merge_mentions(mentions, text=text)
    assert [e.name for e in merged] == ["Lena Haverkamp", "Pfizer"]
    assert merged[0].count == 3 and merged[0].salience > merged[1].salience
    # The same counts and saliences as if the model had typed every mention PERSON.
    assert merged == merge_mentions(typed_right, text=text)
    assert abs(sum(e.salience for e in merged) - 1.0) < 1e-3


def test_last_two_words_of_a_name_join_across_labels():
    text = "Joel Eriksson Ek scored twice. Eriksson Ek now has 20 goals."
    [person] = merge_mentions(spans(text, ("Joel Eriksson Ek", "PERSON"), ("Eriksson Ek", "ORG")), text=text)
    assert (person.name, person.label, person.count, person.aliases) == (
        "Joel Eriksson Ek", "PERSON", 2, ["Eriksson Ek"])


def test_a_first_name_or_middle_word_does_not_join_across_labels():
    text = "Paris Hilton arrived in Paris. Later Paris was quiet. Joel Eriksson Ek met Eriksson."
    entities = by_name(merge_mentions(spans(
        text, ("Paris Hilton", "PERSON"), ("Paris", "GPE"), ("Paris", "GPE"), ("Joel Eriksson Ek", "PERSON"),
        ("Eriksson", "ORG")), text=text))
    assert entities["Paris Hilton"].count == 1 and entities["Paris"].count == 2
    assert entities["Eriksson"].label == "ORG"


@pytest.mark.parametrize("honorific", ["Mr. ", "Ms. ", "M. ", "Mme ", "Dr ", "Dr. "])
def test_honorific_form_of_any_label_joins_the_person(honorific):
    text = f"Lena Haverkamp leads the trial. {honorific}Haverkamp said it works."
    start = text.index(honorific)
    form = f"{honorific}Haverkamp"
    mentions = spans(text, ("Lena Haverkamp", "PERSON")) + [
        RawMention(form, "ORG", "text", start, start + len(form))]
    [person] = merge_mentions(mentions, text=text)
    assert (person.name, person.label, person.count, person.aliases) == ("Lena Haverkamp", "PERSON", 2, ["Haverkamp"])
    # The mention points at the surname, not at the honorific.
    assert text[person.mentions[1].start:person.mentions[1].end] == "Haverkamp"


def test_french_honorific_in_a_person_span_is_trimmed():
    text = "Anne Hidalgo a parlé. Mme Hidalgo veut réduire la pollution, a dit M. Macron."
    assert trimmed(text, "Mme Hidalgo", "PERSON") == "Hidalgo"
    assert trimmed(text, "M. Macron", "PERSON") == "Macron"
    assert trimmed("Le M Group a dit", "M Group", "PERSON") == "M Group"  # no dot: an initial, kept


def test_two_people_sharing_the_surname_block_the_cross_label_merge_too():
    text = "Joe Biden and Hunter Biden arrived. Biden said little."
    entities = by_name(merge_mentions(spans(
        text, ("Joe Biden", "PERSON"), ("Hunter Biden", "PERSON"), ("Biden", "ORG")), text=text))
    assert set(entities) == {"Joe Biden", "Hunter Biden", "Biden"}
    assert entities["Biden"].label == "ORG" and entities["Joe Biden"].count == 1


def test_full_name_typed_org_once_and_person_once_stays_a_person_with_every_mention():
    text = "Adam Neumann spoke. Critics of Adam Neumann left. Neumann laughed. Neumann left."
    [person] = merge_mentions(spans(
        text, ("Adam Neumann", "ORG"), ("Adam Neumann", "PERSON"), ("Neumann", "ORG"), ("Neumann", "ORG")), text=text)
    assert (person.name, person.label, person.count) == ("Adam Neumann", "PERSON", 4)


def test_vote_entity_label_weights_the_full_name():
    assert vote_entity_label([("Adam Neumann", "PERSON")] + [("Neumann", "ORG")] * 5, "Adam Neumann") == "PERSON"
    assert vote_entity_label([("Acme Corp", "ORG"), ("Acme", "PERSON"), ("Acme", "PERSON")], "Acme Corp") == "ORG"
    # A tie among full-name mentions: the shorter mentions decide unless the name looks like a person's.
    assert vote_entity_label([("Apple Inc", "ORG"), ("Apple Inc", "PRODUCT"), ("Apple", "PRODUCT")],
                             "Apple Inc") == "PRODUCT"


# -- spans that start with a word that is no part of the name ----------------------------


def person_start(text: str, surface: str, *, title: bool = False) -> str:
    start = text.index(surface)
    end = start + len(surface)
    return text[trim_person_lead(text, start, end, anywhere_capitalised=title):end]


@pytest.mark.parametrize(
    ("text", "surface", "expected"),
    [
        ("Hosting Cook at the White House, he praised Apple.", "Hosting Cook", "Cook"),
        ("It rained. Hosting Cook was an honour.", "Hosting Cook", "Cook"),
        ("After Neumann left, the board met.", "After Neumann", "Neumann"),
        ("Selon Emmanuel Macron, la France tiendra.", "Selon Emmanuel Macron", "Emmanuel Macron"),
        ("He met President Joe Biden.", "President Joe Biden", "Joe Biden"),
        ("Sterling K. Brown won.", "Sterling K. Brown", "Sterling K. Brown"),
        ("Will Smith arrived.", "Will Smith", "Will Smith"),
        ("He said Manning Cook was there.", "Manning Cook", "Manning Cook"),
        ("It was a fine evening for Hosting Cook.", "Hosting Cook", "Hosting Cook"),  # mid-sentence: kept
        ("Cook", "Cook", "Cook"),
    ],
)
def test_leading_words_that_are_not_names_are_trimmed_from_person_spans(text, surface, expected):
    assert person_start(text, surface) == expected


def test_in_a_title_any_capitalised_gerund_goes():
    assert person_start("Apple Chief Welcomes Visitors, Hosting Cook", "Hosting Cook", title=True) == "Cook"


def test_trimmed_span_no_longer_makes_the_surname_ambiguous():
    text = "Hosting Cook at the White House, the president praised Apple. Tim Cook said tariffs hurt. Cook added more."
    surface = "Hosting Cook"
    s = trim_person_lead(text, 0, len(surface))
    mentions = [RawMention(text[s:len(surface)], "PERSON", "text", s, len(surface))] + spans(
        text, ("Tim Cook", "PERSON"))
    start = text.index("Cook added")
    mentions.append(RawMention("Cook", "PERSON", "text", start, start + 4))
    [cook] = [e for e in merge_mentions(mentions, text=text) if "Cook" in e.name]
    assert (cook.name, cook.count) == ("Tim Cook", 3)


def test_french_articles_and_elisions_are_trimmed_but_not_from_names_that_carry_them():
    assert trimmed("devant l'Assemblée nationale hier", "l'Assemblée nationale", "ORG") == "Assemblée nationale"
    assert trimmed("Il a rejoint L'Oréal en 2019", "L'Oréal", "ORG") == "L'Oréal"
    assert trimmed("la ville de La Rochelle", "La Rochelle", "GPE") == "La Rochelle"
    assert trimmed("Le Pen a répondu.", "Le Pen", "PERSON") == "Le Pen"
    assert trimmed("selon la SNCF, rien", "la SNCF", "ORG") == "SNCF"


def test_person_shape_accepts_accented_capitals():
    assert is_person_shaped("Élisabeth Borne")
    assert is_person_shaped("Valérie Pécresse")
    assert not is_person_shaped("Élisabeth borne")


# -- surname mentions the model did not tag ---------------------------------------------


def test_untagged_bare_surname_becomes_a_mention_of_the_one_person():
    text = ("Daniel Ives, an analyst, spoke. \"Samsung pays nothing,\" Ives said. Cook met Ives's team. "
            "Later, Ives left.")
    mentions = spans(text, ("Daniel Ives", "PERSON"), ("Samsung", "ORG"))
    [ives] = [e for e in merge_mentions(mentions, text=text) if e.label == "PERSON"]
    assert (ives.name, ives.count) == ("Daniel Ives", 4)
    assert [text[m.start:m.end] for m in ives.mentions] == ["Daniel Ives", "Ives", "Ives", "Ives"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Fiona Hill testified. Protesters gathered on Capitol Hill.", "part of a longer capitalised name"),
        ("Tim Cook spoke. The Cook Islands voted.", "followed by a capitalised word"),
        ("Jack White sang. White smoke rose. The house was white.", "sentence start, word used in lowercase"),
        ("Joe Biden and Hunter Biden came. Biden spoke.", "two people share the surname"),
        ("Theresa May spoke. In May, parliament voted.", "a month name"),
        ("Tim Cook spoke. The cook smiled.", "lowercase"),
    ],
)
def test_surname_occurrences_that_are_not_the_person_are_not_added(text, why):
    names = [name for name in ("Fiona Hill", "Tim Cook", "Jack White", "Joe Biden", "Hunter Biden", "Theresa May")
             if name in text]
    entities = merge_mentions(spans(text, *((name, "PERSON") for name in names)), text=text)
    assert all(e.count == 1 for e in entities), why


def test_a_surname_kept_apart_as_a_place_is_not_recovered_for_the_person():
    text = "Michael Jordan flew home. In Jordan he rested. Jordan is hot."
    mentions = spans(text, ("Michael Jordan", "PERSON"), ("Jordan", "GPE"))
    entities = by_name(merge_mentions(mentions, text=text))
    assert entities["Michael Jordan"].count == 1 and entities["Jordan"].count == 1


def test_a_recovered_surname_never_overlaps_a_fact():
    text = "Anna Pound spoke. It cost 500 Pound, she said."
    names = spans(text, ("Anna Pound", "PERSON"))
    facts = spans(text, ("500 Pound", "MONEY"))
    assert merge_mentions(names, text=text)[0].count == 2  # without the fact span it would count
    [person] = merge_mentions(names, text=text, occupied=facts)
    assert person.count == 1


def test_surname_with_a_particle_is_recovered_whole():
    text = "Le ministre, Bruno Le Maire, s'y oppose. Le Maire estime que non."
    [person] = merge_mentions(spans(text, ("Bruno Le Maire", "PERSON")), text=text)
    assert (person.name, person.count, person.aliases) == ("Bruno Le Maire", 2, ["Le Maire"])


# -- junk ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("surface", "label"),
    [("ministre du Travail", "ORG"), ("Première", "MISC"), ("President", "PERSON"),
     ("président de la République", "ORG")],
)
def test_titles_and_function_words_are_not_names(surface, label):
    assert not is_plausible_name(surface, label)


@pytest.mark.parametrize(("surface", "label"),
                         [("mer Noire", "LOC"), ("rue de Rivoli", "LOC"), ("Premier League", "ORG")])
def test_names_with_a_lowercase_generic_word_stay(surface, label):
    assert is_plausible_name(surface, label)


def test_a_word_capitalised_only_by_its_position_and_used_in_lowercase_is_dropped():
    title = "Retraites : Élisabeth Borne défend la réforme"
    text = "La réforme des retraites avance. Flow grows. The flow of money to Flow is large."
    mentions = spans(title, ("Retraites", "PERSON"), ("Élisabeth Borne", "PERSON"), field="title") + spans(
        text, ("Flow", "ORG"), ("Flow", "ORG"))
    entities = by_name(merge_mentions(mentions, text=text, title=title))
    assert "Retraites" not in entities
    # "Flow" also stands mid-sentence ("to Flow"): a name, although "flow" is used too.
    assert entities["Flow"].count == 2


def test_an_acronym_that_spells_a_function_word_is_still_a_name():
    assert is_plausible_name("WHO", "ORG")
    assert not is_plausible_name("Who", "ORG")
    text = "Who knows? The WHO said so. Who else."
    [who] = merge_mentions(spans(text, ("WHO", "ORG")), text=text)
    assert who.name == "WHO"  # all capitals: not a word capitalised by its position


def test_a_nationality_never_joins_a_person_across_labels():
    text = "Historic Armenian churches stand. Armenian pilgrims came."
    entities = by_name(merge_mentions(spans(text, ("Historic Armenian", "PERSON"), ("Armenian", "NORP")), text=text))
    assert entities["Armenian"].label == "NORP" and entities["Historic Armenian"].count == 1


@pytest.mark.parametrize(
    "text",
    [
        "Linksys Velop Wi-Fi routers sell. Wi-Fi 6 is new.",   # a digit follows: a product
        "MacBook Pro users wait. The iPad Pro is fast.",       # the word before has capitals
        "Linksys Velop Wi-Fi ships. Buy a Wi-Fi upgrade now.",  # after a determiner
    ],
)
def test_surname_recovery_skips_product_like_contexts(text):
    root = text.split(" ")[0] + " " + text.split(" ")[1] + (" Wi-Fi" if "Wi-Fi" in text else "")
    entities = merge_mentions(spans(text, (root, "PERSON")), text=text)
    assert [e.count for e in entities] == [1]

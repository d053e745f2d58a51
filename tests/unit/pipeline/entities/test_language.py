"""Language identification and the declared-vs-detected policy."""

from __future__ import annotations

import pytest

from workers.pipeline.entities.language import (
    CONFIDENT,
    SAMPLE_CHARS,
    choose_language,
    detect_language,
    normalise_language_tag,
)

SAMPLES = {
    "en": "The government announced on Tuesday that it would raise spending on schools and hospitals next year.",
    "fr": ("Le gouvernement a annoncé mardi qu'il augmenterait les dépenses pour les écoles et les hôpitaux "
           "l'an prochain."),
    "de": "Die Regierung kündigte am Dienstag an, im nächsten Jahr mehr Geld für Schulen und Krankenhäuser auszugeben.",
    "es": "El gobierno anunció el martes que aumentará el gasto en escuelas y hospitales el próximo año.",
    "ru": "Правительство объявило во вторник, что в следующем году увеличит расходы на школы и больницы.",
    "ar": "أعلنت الحكومة يوم الثلاثاء أنها ستزيد الإنفاق على المدارس والمستشفيات في العام المقبل.",
}


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_detects_news_sentences(code):
    language, confidence = detect_language(SAMPLES[code])
    assert language == code
    assert CONFIDENT <= confidence <= 1.0


@pytest.mark.parametrize("text", ["", "   \n\t", "Hi!", "12345 67890 -- 2024", "OK ok"])
def test_empty_tiny_or_letterless_text_has_no_language(text):
    assert detect_language(text) == (None, 0.0)


def test_only_the_head_of_a_long_text_is_read():
    # An English head followed by a French tail beyond the sample: still English.
    text = (SAMPLES["en"] + " ") * (SAMPLE_CHARS // len(SAMPLES["en"]) + 1) + SAMPLES["fr"] * 500
    assert detect_language(text)[0] == "en"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("en", "en"), ("en-US", "en"), ("EN_gb", "en"), (" fr ", "fr"), ("", None), (None, None),
     ("und", None), ("not a tag", None)],
)
def test_normalise_language_tag(tag, expected):
    assert normalise_language_tag(tag) == expected


def test_confident_detection_beats_a_wrong_declared_language():
    assert choose_language(SAMPLES["de"], "en-US")[0] == "de"


def test_declared_language_is_used_when_detection_is_unsure():
    language, confidence = choose_language("Obama visits Paris", "en")
    assert language == "en"
    assert 0.0 <= confidence < CONFIDENT


def test_unsure_detection_without_declared_language_is_unknown():
    assert choose_language("Obama visits Paris", None) == (None, 0.0)
    assert choose_language("", "fr") == ("fr", 0.0)


def test_an_expected_language_close_to_an_unsure_top_guess_is_taken():
    # Short English with many names: the top guess is Nigerian Pidgin, English close behind.
    text = "French President Emmanuel Macron met Giorgia Meloni in Rome on Friday."
    assert detect_language(text)[0] != "en"
    language, confidence = choose_language(text, None, ("en",))
    assert language == "en" and 0.0 < confidence < CONFIDENT
    # A confident detection is never overridden by the expectation.
    assert choose_language(SAMPLES["fr"], None, ("en",))[0] == "fr"
    # Nor is an expected language taken when it is nowhere near the top.
    assert choose_language("Obama visits Paris", None, ("en",)) == (None, 0.0)

"""The revision diff (workers.pipeline.revisions): pure, no Kafka."""

from __future__ import annotations

import pytest

from workers.pipeline.revisions import (
    SUBSTANTIVE_CHANGE_RATIO,
    ArticleVersion,
    diff_versions,
    next_version,
    paragraphs,
)

TITLE = "Harbour bridge reopens after repairs"
BODY = [
    "The harbour bridge in Portsmouth reopened on Monday after eight months of repairs, the city council said.",
    "Engineers replaced the steel cables and resurfaced the deck, which carries some 40,000 vehicles a day.",
    "Mayor Jane Porter thanked residents for their patience during the long closure of the crossing.",
]


def test_paragraphs_are_split_on_blank_lines_and_normalised():
    assert paragraphs("One  para\nstill one.\n\n \n\nTwo\u00a0para.\n\n") == ["One para still one.", "Two para."]


def test_identical_versions_do_not_differ():
    diff = diff_versions(TITLE, BODY, TITLE, list(BODY))
    assert (diff.title_changed, diff.paragraphs_added, diff.paragraphs_removed) == (False, [], [])
    assert diff.change_ratio == 0.0
    assert not diff.substantive


def test_changed_headline_is_substantive_even_with_the_same_text():
    diff = diff_versions(TITLE, BODY, "Harbour bridge reopens, months late", list(BODY))
    assert diff.title_changed and diff.substantive
    assert diff.change_ratio == 0.0


def test_added_paragraph_is_named_and_substantive():
    added = "Correction: an earlier version of this article misstated the number of vehicles."
    diff = diff_versions(TITLE, BODY, TITLE, BODY + [added])
    assert diff.paragraphs_added == [added]
    assert diff.paragraphs_removed == []
    assert diff.substantive
    assert 0 < diff.change_ratio < 0.5


def test_removed_paragraph_is_named_and_substantive():
    diff = diff_versions(TITLE, BODY, TITLE, [BODY[0], BODY[2]])
    assert diff.paragraphs_removed == [BODY[1]]
    assert diff.paragraphs_added == []
    assert diff.substantive


def test_one_character_typo_fix_is_an_edit_and_not_substantive():
    before = [BODY[0], BODY[1].replace("vehicles", "vehicels"), BODY[2]]
    diff = diff_versions(TITLE, before, TITLE, list(BODY))
    assert diff.paragraphs_added == [] and diff.paragraphs_removed == []
    assert diff.paragraphs_edited == 1
    assert 0 < diff.change_ratio < 0.01
    assert not diff.substantive


def test_rewriting_much_of_a_paragraph_passes_the_threshold():
    rewritten = [BODY[0], BODY[1], "Mayor Jane Porter thanked residents, but critics said the closure of the crossing "
                 "cost local shops dearly and demanded compensation from the city."]
    diff = diff_versions(TITLE, BODY, TITLE, rewritten)
    assert diff.change_ratio > SUBSTANTIVE_CHANGE_RATIO
    assert diff.substantive


def test_replaced_paragraph_on_another_subject_is_removed_and_added():
    other = "Tickets for the summer festival go on sale on Friday at the town hall."
    diff = diff_versions(TITLE, BODY, TITLE, [BODY[0], other, BODY[2]])
    assert diff.paragraphs_removed == [BODY[1]] and diff.paragraphs_added == [other]


def test_change_ratio_is_between_0_and_1():
    diff = diff_versions(TITLE, BODY, "Something else", ["Entirely different text."])
    assert diff.change_ratio == pytest.approx(1.0, abs=0.05)
    assert 0.0 <= diff.change_ratio <= 1.0
    assert diff_versions(None, [], None, []).change_ratio == 0.0


def test_every_paragraph_edited_in_a_long_article():
    before = [" ".join(f"w{i}x{j}" for j in range(200)) for i in range(100)]
    after = [p.replace("x100 ", "y100 ") for p in before]
    diff = diff_versions(TITLE, before, TITLE, after)
    assert diff.paragraphs_edited == 100 and diff.paragraphs_added == []
    assert 0 < diff.change_ratio < 0.01 and not diff.substantive


def test_long_paragraphs_are_compared_on_words():
    long = " ".join(f"word{i}" for i in range(2000))
    diff = diff_versions(TITLE, [long], TITLE, [long.replace("word1000 ", "word1000x ")])
    assert diff.paragraphs_edited == 1 and not diff.substantive


# -- versions ------------------------------------------------------------------------------


def test_first_version_is_1_without_revision():
    step = next_version(None, article_id="a" * 32, url="https://e.com/a", content_hash="sha256:1", title=TITLE,
                        text="\n\n".join(BODY), fetched_at="2026-12-06T10:00:00.000Z")
    assert (step.version, step.previous_content_hash, step.revision, step.unchanged) == (1, None, None, False)
    assert step.state.paragraphs == tuple(BODY)


def test_same_content_is_unchanged_and_keeps_its_version():
    stored = ArticleVersion(3, "sha256:1", TITLE, "2026-12-06T10:00:00.000Z", tuple(BODY), "sha256:0")
    step = next_version(stored, article_id="a" * 32, url="https://e.com/a", content_hash="sha256:1", title=TITLE,
                        text="\n\n".join(BODY), fetched_at="2026-12-06T11:00:00.000Z")
    assert step.unchanged and step.revision is None
    assert (step.version, step.previous_content_hash) == (3, "sha256:0")
    assert step.state.fetched_at == "2026-12-06T11:00:00.000Z"


def test_new_headline_over_the_same_text_is_a_new_version():
    stored = ArticleVersion(1, "sha256:1", TITLE, "2026-12-06T10:00:00.000Z", tuple(BODY))
    step = next_version(stored, article_id="a" * 32, url="https://e.com/a", content_hash="sha256:1",
                        title="Bridge reopens, months late", text="\n\n".join(BODY), fetched_at="2026-12-06T11:00:00Z")
    assert not step.unchanged and step.version == 2
    assert step.revision.title_changed and step.revision.substantive
    assert step.revision.previous_content_hash == step.revision.content_hash == "sha256:1"
    assert step.revision.change_ratio == 0.0


def test_changed_content_is_the_next_version_with_its_revision():
    stored = ArticleVersion(1, "sha256:1", TITLE, "2026-12-06T10:00:00.000Z", tuple(BODY))
    step = next_version(stored, article_id="a" * 32, url="https://e.com/a", content_hash="sha256:2",
                        title="New headline", text="\n\n".join(BODY[:2]), fetched_at="2026-12-06T11:00:00.000Z")
    revision = step.revision
    assert revision is not None and not step.unchanged
    assert (step.version, step.previous_content_hash) == (2, "sha256:1")
    assert (revision.version, revision.previous_version) == (2, 1)
    assert (revision.content_hash, revision.previous_content_hash) == ("sha256:2", "sha256:1")
    assert (revision.title_before, revision.title_after, revision.title_changed) == (TITLE, "New headline", True)
    assert revision.paragraphs_removed == [BODY[2]] and revision.substantive
    assert step.state.version == 2 and step.state.previous_content_hash == "sha256:1"


def test_stored_version_round_trips_compressed_and_bad_entries_read_as_none():
    body = tuple(f"{p} ({i})" for i in range(10) for p in BODY)
    stored = ArticleVersion(2, "sha256:2", TITLE, "2026-12-06T10:00:00.000Z", body, "sha256:1")
    raw = stored.to_bytes()
    assert ArticleVersion.from_bytes(raw) == stored
    assert len(raw) < len("".join(body)) / 2  # compressed
    for bad in (None, b"", b"garbage", b"v1:not zlib", raw[:-5]):
        assert ArticleVersion.from_bytes(bad) is None


def test_revision_dataclass_and_schema_have_the_same_fields_types_and_nullability():
    from tests.unit.contract.test_schemas import _drift
    from workers.contract import schemas
    from workers.pipeline.revisions import REVISION_SCHEMA_VERSION, Revision

    schema = schemas.load_schema("revision")
    assert _drift(Revision, schema, schema, "Revision") == []
    assert schemas.schema_version(schema) == REVISION_SCHEMA_VERSION


def test_edit_after_paragraphs_added_above_is_still_an_edit():
    top = [f"Update {i}: officials gave new figures on the works at the crossing this morning." for i in range(12)]
    after = top + [BODY[0], BODY[1].replace("vehicles", "vehicels"), BODY[2]]
    diff = diff_versions(TITLE, BODY, TITLE, after)
    assert diff.paragraphs_added == top and diff.paragraphs_removed == []
    assert diff.paragraphs_edited == 1


def test_tail_short_form_of_a_revision():
    from workers.cli.record_text import describe

    revision = {"id": "a" * 32, "url": "https://e.com/a", "version": 3, "previous_version": 2,
                "title_before": "Old", "title_after": "New", "title_changed": True,
                "paragraphs_added": ["An added paragraph."], "paragraphs_removed": [], "change_ratio": 0.125,
                "substantive": True}
    text = describe(revision)
    assert text.startswith("[revision] v3 of https://e.com/a (substantive)")
    assert "headline: 'Old' -> 'New'" in text and "+1 -0" in text and "12.5%" in text
    assert "  + An added paragraph." in text

"""The seen-URL window and content-hash decisions (workers/idempotence.py)."""

from __future__ import annotations

from workers.processing.idempotence import (
    Decision,
    Outcome,
    SeenEntry,
    after_outcome,
    decide,
    duplicate_of,
    submission_id,
)

WINDOW = 3600.0


def test_new_article_is_processed():
    assert decide(None, submission="u:0:1", now=100.0, window_s=WINDOW) is Decision.PROCESS


def test_redelivered_submission_is_a_replay_even_after_a_dead_letter():
    for outcome in Outcome:
        entry = after_outcome(None, submission="u:0:1", outcome=outcome, now=100.0)
        assert decide(entry, submission="u:0:1", now=101.0, window_s=WINDOW) is Decision.SKIP_REPLAY


def test_resubmission_within_the_window_is_skipped_and_after_it_processed():
    entry = after_outcome(None, submission="u:0:1", outcome=Outcome.RECORD, now=100.0)
    assert decide(entry, submission="u:3:9", now=100.0 + WINDOW - 1, window_s=WINDOW) is Decision.SKIP_DUPLICATE
    assert decide(entry, submission="u:3:9", now=100.0 + WINDOW, window_s=WINDOW) is Decision.PROCESS


def test_zero_window_disables_the_repeat_check_but_not_the_replay_guard():
    entry = after_outcome(None, submission="u:0:1", outcome=Outcome.RECORD, now=100.0)
    assert decide(entry, submission="u:0:2", now=100.0, window_s=0) is Decision.PROCESS
    assert decide(entry, submission="u:0:1", now=100.0, window_s=0) is Decision.SKIP_REPLAY


def test_failed_url_is_tried_again_on_resubmission():
    entry = after_outcome(None, submission="u:0:1", outcome=Outcome.DEAD_LETTER, now=100.0)
    assert entry.recorded_at is None
    assert decide(entry, submission="u:0:2", now=101.0, window_s=WINDOW) is Decision.PROCESS


def test_dead_letter_after_a_record_keeps_the_window():
    recorded = after_outcome(None, submission="u:0:1", outcome=Outcome.RECORD, now=100.0)
    failed = after_outcome(recorded, submission="u:0:2", outcome=Outcome.DEAD_LETTER, now=200.0)
    assert failed.recorded_at == 100.0
    assert decide(failed, submission="u:0:3", now=300.0, window_s=WINDOW) is Decision.SKIP_DUPLICATE


def test_entry_round_trips_and_garbage_reads_as_absent():
    entry = SeenEntry(submission="u:1:2", outcome="record", recorded_at=12.5)
    assert SeenEntry.from_bytes(entry.to_bytes()) == entry
    assert SeenEntry.from_bytes(None) is None
    assert SeenEntry.from_bytes(b"{not json") is None
    assert SeenEntry.from_bytes(b'{"outcome": "record"}') is None


def test_submission_id_names_topic_partition_offset():
    assert submission_id("t.urls", 4, 17) == "t.urls:4:17"
    assert submission_id("t.urls", 4, 17) != submission_id("t.urls", 4, 18)


def test_first_content_owner_and_later_duplicates():
    hashes: dict[str, str] = {}
    assert duplicate_of(hashes, "sha256:x", "a1") == (None, True)
    hashes["sha256:x"] = "a1"
    assert duplicate_of(hashes, "sha256:x", "a2") == ("a1", False)
    # The first article fetched again (or replayed) is not its own duplicate.
    assert duplicate_of(hashes, "sha256:x", "a1") == (None, False)

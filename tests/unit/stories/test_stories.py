"""workers.stories: shingles, MinHash, the story index and the desk step, without Kafka."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import orjson
import pytest

from tests.unit.processing.test_handler import make_record
from workers.observability.metrics import Metrics
from workers.pipeline.record import dumps
from workers.processing.handler import MessageHandler
from workers.stories.desk import (
    SIGNATURE_HEADER,
    STORIES,
    StoryDesk,
    signature_from_header,
    signature_header,
    text_signature,
)
from workers.stories.index import EXPIRE_PER_STEP, SIMILARITY_THRESHOLD, Entry, StoryIndex
from workers.stories.minhash import Signature, band_keys, candidate_probability, jaccard, overlap
from workers.stories.shingles import shingle_hashes, words

WIRE = [
    "The city council voted on Tuesday to close the Harbor Bridge for six weeks of repairs after inspectors "
    "found corroded steel on its eastern span, a decision that will send forty thousand drivers a day onto a "
    "long detour through the northern suburbs.",
    "Transport commissioner Dana Ortiz said the work could not be postponed any longer, and that the cost of "
    "eighteen million dollars would be paid mostly from a state infrastructure grant awarded last spring.",
    "Ferry operators promised extra sailings during the closure, while shop owners on the waterfront warned "
    "that losing passing trade in the busy spring season could force some of them to close for good.",
    "Engineers expect the bridge to reopen in the middle of April if the weather holds, although officials "
    "cautioned that the discovery of further damage once the deck is opened up could delay the work.",
    "The last major repair of the bridge, in the nineteen nineties, took almost a year and was blamed at the "
    "time for the closure of a dozen businesses near the toll plaza on the southern approach road.",
]
ORIGINAL = "\n\n".join(WIRE)
# What a republishing site does: dateline, an edited sentence, last paragraph cut, a Related block.
COPY = "\n\n".join([
    "WASHINGTON (AP) — " + WIRE[0],
    WIRE[1].replace("could not be postponed any longer", "could not wait"),
    WIRE[2],
    WIRE[3],
    "Related coverage\n\nMarkets close higher as tech shares rally\n\nMuseum reopens after renovation",
])
# Same event, another writer: shares names and figures, not sentences.
OTHER_REPORT = (
    "Commuters who cross the Harbor Bridge face weeks of longer journeys. Officials announced on Tuesday that "
    "the crossing will shut for six weeks because corrosion was found in its steel. Dana Ortiz, the transport "
    "commissioner, told reporters the repairs would cost about eighteen million dollars, most of it from a "
    "state grant. Some forty thousand cars use the bridge daily and will be diverted to the north. Ferry "
    "companies plan additional crossings and waterfront businesses fear a difficult spring."
)
ID_A, ID_B, ID_C = "a" * 32, "b" * 32, "c" * 32


def sig(text: str) -> Signature:
    return text_signature(text)


# -- shingles and MinHash ----------------------------------------------------------


def test_words_are_normalised_so_punctuation_case_and_quotes_do_not_matter():
    assert words("«Hello», WORLD — it’s “fine”") == words('"hello" world - it’s "FINE"')
    assert words("") == []


def test_signatures_are_the_same_in_every_process():
    # Python's hash() is salted per process; two workers must compute the same signature.
    code = ("from workers.stories.desk import text_signature; "
            f"print(text_signature({ORIGINAL!r}).values.tolist())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert other.strip() == str(sig(ORIGINAL).values.tolist())


def test_signature_bytes_round_trip_and_header_carries_the_shingle_count():
    s = sig(ORIGINAL)
    assert Signature.from_bytes(s.to_bytes(), s.shingles).values.tolist() == s.values.tolist()
    header = signature_from_header(signature_header(ORIGINAL))
    assert header is not None and header.shingles == s.shingles == len(shingle_hashes(ORIGINAL))
    assert header.values.tolist() == s.values.tolist()
    assert signature_from_header(b"short") is None and signature_from_header(None) is None


def test_overlap_is_high_for_a_cut_down_copy_and_low_for_another_report():
    cut = "\n\n".join(WIRE[:3])
    assert jaccard(sig(ORIGINAL), sig(ORIGINAL)) == 1.0
    assert overlap(sig(ORIGINAL), sig(cut)) > 0.9  # Jaccard alone would be ~0.6
    assert overlap(sig(ORIGINAL), sig(COPY)) >= SIMILARITY_THRESHOLD
    assert overlap(sig(ORIGINAL), sig(OTHER_REPORT)) < 0.2


def test_band_keys_are_shared_by_near_copies_and_the_candidate_curve_rises():
    shared = set(band_keys(sig(ORIGINAL))) & set(band_keys(sig(COPY)))
    assert shared
    assert not set(band_keys(sig(ORIGINAL))) & set(band_keys(sig(OTHER_REPORT)))
    assert candidate_probability(0.1) < 0.1 < 0.9 < candidate_probability(0.45)


# -- the index ------------------------------------------------------------------------


def commit(store: dict, writes: dict) -> None:
    for key, value in writes.items():
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value


def assign(index: StoryIndex, store: dict, ident: str, text: str, now: float = 1000.0):
    assignment, writes = index.assign(store, ident, sig(text), now)
    commit(store, writes)
    return assignment


@pytest.mark.parametrize("first, second", [(ORIGINAL, COPY), (COPY, ORIGINAL)])
def test_a_copy_joins_the_story_of_whichever_came_first(first, second):
    index, store = StoryIndex(), {}
    started = assign(index, store, ID_A, first)
    joined = assign(index, store, ID_B, second)
    assert (started.story_id, started.near_duplicate_of, started.similarity) == (ID_A, None, None)
    assert (joined.story_id, joined.near_duplicate_of) == (ID_A, ID_A)
    assert SIMILARITY_THRESHOLD <= joined.similarity <= 1.0


def test_a_copy_of_a_copy_keeps_the_first_story_id():
    index, store = StoryIndex(), {}
    assign(index, store, ID_A, ORIGINAL)
    assign(index, store, ID_B, COPY)
    third = assign(index, store, ID_C, COPY.replace("WASHINGTON (AP) — ", "LONDON (Reuters) - "))
    assert third.story_id == ID_A and third.near_duplicate_of in (ID_A, ID_B)


def test_another_report_of_the_same_event_starts_its_own_story():
    index, store = StoryIndex(), {}
    assign(index, store, ID_A, ORIGINAL)
    other = assign(index, store, ID_B, OTHER_REPORT)
    assert (other.story_id, other.near_duplicate_of, other.similarity) == (ID_B, None, None)


def test_a_text_too_short_to_compare_starts_its_own_story_and_is_not_indexed():
    index, store = StoryIndex(), {}
    brief = "Photo: the bridge at dawn."
    assert assign(index, store, ID_A, brief).story_id == ID_A
    assert assign(index, store, ID_B, brief).story_id == ID_B
    assert store == {}


def test_assignment_is_idempotent_for_an_article_already_placed():
    index, store = StoryIndex(), {}
    assign(index, store, ID_A, ORIGINAL)
    first = assign(index, store, ID_B, COPY)
    snapshot = dict(store)
    again, writes = index.assign(store, ID_B, sig(COPY), 2000.0)  # a redelivered message
    assert again == first and writes == {} and store == snapshot


def test_entries_round_trip():
    entry = Entry(ID_A, ID_B, 0.875, 1234.5, sig(ORIGINAL))
    back = Entry.from_bytes(entry.to_bytes())
    assert (back.story_id, back.near_duplicate_of, back.similarity, back.added_at) == (ID_A, ID_B, 0.875, 1234.5)
    assert back.signature.values.tolist() == entry.signature.values.tolist()
    assert Entry.from_bytes(Entry(ID_A, None, None, 1.0, sig(ORIGINAL)).to_bytes()).assignment.similarity is None


def test_stories_age_out_after_the_window():
    index, store = StoryIndex(window_s=3600.0), {}
    assign(index, store, ID_A, ORIGINAL, now=0.0)
    # Within the window a copy joins; after it (plus the hour of granularity) it starts a new story.
    assert assign(index, store, ID_B, COPY, now=3000.0).story_id == ID_A
    late = assign(index, store, ID_C, COPY.replace("WASHINGTON", "BERLIN"), now=3 * 3600.0 + 1)
    assert late.story_id == ID_C
    assert {key[:1] + key[1:17] for key in store if key[:1] == b"a"} == {b"a" + bytes.fromhex(ID_C)}
    # Nothing of the aged-out articles is left in the band buckets.
    gone = {bytes.fromhex(ID_A), bytes.fromhex(ID_B)}
    buckets = [value for key, value in store.items() if key[:1] == b"b"]
    assert buckets and not any(value[i:i + 16] in gone for value in buckets for i in range(0, len(value), 16))
    # Nor in the ageing log: what is left of it is the one article still held.
    assert sorted(value for key, value in store.items() if key[:1] == b"t") == [bytes.fromhex(ID_C)]


def test_no_index_value_grows_with_the_traffic():
    # Every value is a changelog message: one growing with the articles of an hour would
    # soon exceed Kafka's message size and turn every record into a dead letter.
    index, store = StoryIndex(), {}
    for n in range(300):
        assign(index, store, f"{n:032x}", f"{ORIGINAL} variant {n} " + " ".join(f"w{n}x{i}" for i in range(40)),
               now=1000.0 + n)
    assert max(len(value) for value in store.values()) <= 560
    assert sum(1 for key in store if key[:1] == b"t") == 300


def test_an_article_logged_behind_the_cursor_still_ages_out():
    index, store = StoryIndex(window_s=3600.0), {}
    assign(index, store, ID_A, ORIGINAL, now=5 * 3600.0)
    assign(index, store, ID_B, OTHER_REPORT, now=3600.0)  # a worker whose clock is behind
    assign(index, store, ID_C, "\n\n".join(WIRE[::-1]) + " reversed", now=20 * 3600.0)
    assert {key[1:] for key in store if key[:1] == b"a"} == {bytes.fromhex(ID_C)}


def test_ageing_out_is_bounded_per_assignment():
    index, store = StoryIndex(window_s=10.0), {}
    for n in range(EXPIRE_PER_STEP + 5):
        assign(index, store, f"{n:032x}", f"{ORIGINAL} unique tail number {n} " * 2, now=0.0)
    _, writes = index.assign(store, ID_A, sig(OTHER_REPORT), 10 * 3600.0)
    removed = [key for key, value in writes.items() if key[:1] == b"a" and value is None]
    assert len(removed) == EXPIRE_PER_STEP
    commit(store, writes)
    _, writes = index.assign(store, ID_B, sig(OTHER_REPORT + " again"), 10 * 3600.0)
    assert len([k for k, v in writes.items() if k[:1] == b"a" and v is None]) == 5


def test_bad_article_ids_are_refused():
    with pytest.raises(ValueError):
        StoryIndex().assign({}, "not-hex", sig(ORIGINAL), 0.0)


# -- the desk step and the publish step -------------------------------------------------


class Outbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bytes, dict]] = []
        self.state: dict[bytes, bytes | None] = {}

    async def publish(self, role, key, value, headers, partition=None) -> None:
        self.messages.append((role, key, value, headers))

    def remember(self, table, key, value) -> None:
        if table == STORIES:
            self.state[key] = value


def place(desk: StoryDesk, store: dict, raw: bytes, headers: dict) -> tuple[str, Outbox]:
    out = Outbox()
    result = asyncio.run(desk.place(raw, headers, store, out))
    commit(store, out.state)
    return result, out


def test_the_desk_publishes_each_record_with_its_story_fields():
    desk, store = StoryDesk(StoryIndex(), clock=lambda: 1000.0), {}
    first = make_record("https://a.example/bridge", ORIGINAL)
    copy = make_record("https://b.example/wire/bridge", COPY)
    results = []
    for record in (first, copy):
        headers = {"trace_id": b"t", SIGNATURE_HEADER: signature_header(record.text)}
        result, out = place(desk, store, dumps(record), headers)
        results.append(result)
        (role, key, value, out_headers), = out.messages
        assert role == "articles" and key == record.id.encode()
        assert SIGNATURE_HEADER not in out_headers and out_headers["trace_id"] == b"t"
        published = orjson.loads(value)
        assert published["story_id"] == first.id
    assert results == ["started", "joined"]
    assert published["near_duplicate_of"] == first.id and published["similarity"] >= SIMILARITY_THRESHOLD


def test_the_desk_computes_the_signature_when_the_header_is_missing():
    desk, store = StoryDesk(StoryIndex()), {}
    place(desk, store, dumps(make_record("https://a.example/1", ORIGINAL)), {})
    _, out = place(desk, store, dumps(make_record("https://b.example/2", COPY)), {})
    assert orjson.loads(out.messages[0][2])["near_duplicate_of"] is not None


@pytest.mark.parametrize("raw", [b"{not json", b'{"url": "https://a.example/x"}', b"[1, 2]", None])
def test_an_unreadable_record_becomes_one_dead_letter(raw):
    desk, store = StoryDesk(StoryIndex()), {}
    result, out = place(desk, store, raw, {})
    assert result == "dead_letter" and [m[0] for m in out.messages] == ["deadletter"]
    letter = orjson.loads(out.messages[0][2])
    assert letter["stage"] == "publish" and letter["error"] == "publish_failed"
    assert store == {}


@pytest.mark.parametrize("story_desk, role", [(True, "stories"), (False, "articles")])
def test_the_publish_step_hands_records_to_the_desk_only_when_clustering_is_on(story_desk, role):
    handler = MessageHandler(None, entities_stream=False, metrics=Metrics(), story_desk=story_desk)
    record = make_record("https://a.example/bridge", ORIGINAL)
    out = Outbox()
    asyncio.run(handler.publish(dumps(record), {}, {}, out))
    (published_role, key, value, headers), = out.messages
    assert published_role == role and key == record.id.encode()
    if story_desk:
        carried = signature_from_header(headers[SIGNATURE_HEADER])
        assert carried is not None and carried.values.tolist() == sig(ORIGINAL).values.tolist()
    else:
        assert SIGNATURE_HEADER not in headers and orjson.loads(value)["story_id"] is None


def test_with_the_desk_a_revision_rides_to_the_desk_and_is_written_beside_its_record():
    """The record and its revision stay one outbox (one transaction in exactly_once) with clustering on."""
    from workers.contract.headers import REVISION_HEADER

    handler = MessageHandler(None, entities_stream=False, metrics=Metrics(), story_desk=True)
    record = make_record("https://a.example/bridge", ORIGINAL)
    revision = orjson.dumps({"id": record.id, "version": 2, "substantive": True})
    first = Outbox()
    asyncio.run(handler.publish(dumps(record), {REVISION_HEADER: revision, "trace_id": b"t"}, {}, first))
    (role, _, value, headers), = first.messages
    assert role == "stories" and headers[REVISION_HEADER] == revision  # nothing on the revisions topic yet

    desk, store = StoryDesk(StoryIndex(), publish=handler.publish_final), {}
    _, out = place(desk, store, value, headers)
    assert [m[0] for m in out.messages] == ["articles", "revisions"]
    assert out.messages[1][2] == revision and out.messages[1][1] == record.id.encode()
    assert REVISION_HEADER not in out.messages[0][3] and SIGNATURE_HEADER not in out.messages[0][3]


# -- wiring: the switch ---------------------------------------------------------------------


@pytest.mark.parametrize("clustering", [True, False])
def test_the_desk_its_stream_and_its_table_exist_only_with_clustering_on(clustering):
    from workers.contract.topics import internal_topic_specs
    from workers.settings import Settings
    from workers.worker.app import build_worker

    settings = Settings(story_clustering=clustering)
    worker = build_worker(settings, web=False)
    names = {spec.name for spec in internal_topic_specs(settings)}
    assert ("newswire.place_stories" in worker.app.agents) is clustering
    assert (STORIES in worker.app.tables) is clustering
    assert (f"{settings.group_id}-stories" in names) is clustering
    assert (worker.topics.by_role()["stories"] is not None) is clustering

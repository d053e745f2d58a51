import pickle

import orjson

from workers.errors import HTTPStatusError, InvalidMessage
from workers.pipeline.record import content_hash, dead_letter


def test_content_hash_ignores_spacing_and_unicode_forms():
    assert content_hash("Caf\u00e9  news\n\nhere") == content_hash("Cafe\u0301 news here")
    assert content_hash("one text") != content_hash("another text")


def test_dead_letter_from_a_fetch_error():
    letter = dead_letter(HTTPStatusError(404, attempts=1), url="https://e.com/x", article_id="abc")
    data = orjson.loads(orjson.dumps(letter))
    assert data["error"] == "http_404" and data["stage"] == "fetch" and data["attempts"] == 1
    assert data["url"] == "https://e.com/x" and data["raw"] is None and data["id"] == "abc"
    assert data["failed_at"].endswith("Z")


def test_dead_letter_keeps_an_undecodable_payload_readable():
    letter = dead_letter(InvalidMessage("not valid UTF-8"), url=None, raw=b"\xff\xfeabc")
    assert letter.url is None and letter.raw.endswith("abc")
    assert letter.error == "invalid_message" and letter.stage == "decode"


def test_exhausted_retries_have_their_own_code():
    assert HTTPStatusError(503, exhausted=True).error_code == "http_5xx_exhausted"
    assert HTTPStatusError(429, exhausted=True).error_code == "http_429_exhausted"


def test_errors_survive_the_process_pool_boundary():
    err = pickle.loads(pickle.dumps(HTTPStatusError(502, "bad gateway", attempts=3)))
    assert (err.error_code, err.attempts, err.status, err.detail) == ("http_502", 3, 502, "bad gateway")

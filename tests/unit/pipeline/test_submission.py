import orjson
import pytest

from workers.errors import InvalidMessage
from workers.pipeline.submission import Submission, decode_submission, encode_submission


def test_bare_url():
    assert decode_submission(b"  https://example.com/a?b=1\n") == Submission(url="https://example.com/a?b=1")


def test_json_submission_with_all_fields():
    raw = orjson.dumps({"url": "https://example.com/a", "source": "feed", "submitted_at": "2024-01-01T00:00:00Z",
                        "metadata": {"title": "T"}})
    sub = decode_submission(raw)
    assert (sub.url, sub.source, sub.submitted_at, sub.metadata) == (
        "https://example.com/a", "feed", "2024-01-01T00:00:00Z", {"title": "T"})


def test_json_string_holding_a_url():
    assert decode_submission(b'"https://example.com/x"').url == "https://example.com/x"


def test_round_trip():
    sub = Submission(url="https://e.com/", source="s", metadata={"k": 1})
    assert decode_submission(encode_submission(sub)) == sub


@pytest.mark.parametrize("raw, reason", [
    (None, "null"),
    (b"", "empty"),
    (b"\xff\xfe\xfa", "UTF-8"),
    (b"not a url", "whitespace"),
    (b"example.com/no-scheme", "not a URL"),
    (b'{"url": ', "invalid JSON"),
    (b"[1, 2]", "list"),
    (b'{"link": "https://e.com"}', "'url'"),
    (b'{"url": "https://e.com", "metadata": [1]}', "metadata"),
    (b'{"url": "https://e.com", "source": 3}', "source"),
    (b"x" * 70_000, "exceeds"),
])
def test_invalid_messages_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(InvalidMessage) as info:
        decode_submission(raw)
    assert info.value.error_code == "invalid_message"
    assert info.value.stage == "decode"
    assert reason in info.value.detail

"""Decode stage: turn the bytes of a URL-topic message into a :class:`Submission`.

A message is either a bare URL (``https://...``) or a JSON object
``{"url": ..., "source"?: str, "submitted_at"?: str, "metadata"?: object, "refresh"?: bool}``;
``refresh: true`` asks for a fresh fetch even inside the dedupe window (a revision check).
Anything else raises :class:`~workers.errors.InvalidMessage`, which becomes a
dead-letter record carrying the raw payload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import InvalidMessage

__all__ = ["Submission", "decode_submission", "encode_submission"]

MAX_MESSAGE_BYTES = 64 * 1024


@dataclass(slots=True)
class Submission:
    url: str
    source: str | None = None
    submitted_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    refresh: bool = False  # fetch again even inside the dedupe window (see workers.pipeline.revisions)


def decode_submission(raw: bytes | str | None) -> Submission:
    if raw is None:
        raise InvalidMessage("empty message (null value)")
    if isinstance(raw, bytes):
        if len(raw) > MAX_MESSAGE_BYTES:
            raise InvalidMessage(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(f"not valid UTF-8 at byte {exc.start}") from None
    else:
        text = raw
    text = text.strip().lstrip("\ufeff")
    if not text:
        raise InvalidMessage("empty message")
    if text[0] in "{[\"":
        return _from_json(text)
    if any(ch.isspace() for ch in text):
        raise InvalidMessage("not a URL: contains whitespace")
    if "://" not in text:
        raise InvalidMessage("not a URL or a JSON object")
    return Submission(url=text)


def _from_json(text: str) -> Submission:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"invalid JSON: {exc}") from None
    if isinstance(data, str):
        return decode_submission(data) if not data.startswith(("{", "\"")) else _bad("a JSON string that is not a URL")
    if not isinstance(data, dict):
        return _bad(f"JSON {type(data).__name__} instead of an object")
    url = data.get("url")
    if not isinstance(url, str) or not url.strip():
        return _bad("JSON object without a string 'url'")
    source = data.get("source")
    submitted_at = data.get("submitted_at")
    metadata = data.get("metadata") or {}
    if source is not None and not isinstance(source, str):
        return _bad("'source' must be a string")
    if submitted_at is not None and not isinstance(submitted_at, str):
        return _bad("'submitted_at' must be an ISO 8601 string")
    if not isinstance(metadata, dict):
        return _bad("'metadata' must be an object")
    refresh = data.get("refresh", False)
    if refresh is None:
        refresh = False
    if not isinstance(refresh, bool):
        return _bad("'refresh' must be true or false")
    return Submission(url=url.strip(), source=source, submitted_at=submitted_at, metadata=metadata, refresh=refresh)


def _bad(detail: str) -> Submission:
    raise InvalidMessage(detail)


def encode_submission(submission: Submission) -> bytes:
    body: dict[str, Any] = {"url": submission.url}
    if submission.source:
        body["source"] = submission.source
    if submission.submitted_at:
        body["submitted_at"] = submission.submitted_at
    if submission.metadata:
        body["metadata"] = submission.metadata
    if submission.refresh:
        body["refresh"] = True
    return orjson.dumps(body)

"""Record building: the article record and the dead-letter record, in one typed model.

Both records are dataclasses serialised with orjson; ``schemas/article.v1.json``
and ``schemas/deadletter.v1.json`` describe them and a test checks that every
field of these classes is in the schema and vice versa, so they cannot drift.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import NewswireError
from .entities import Entity
from .extract import Block

__all__ = [
    "ARTICLE_SCHEMA_VERSION",
    "DEADLETTER_SCHEMA_VERSION",
    "ArticleRecord",
    "DeadLetter",
    "EntityMessage",
    "ENTITY_SCHEMA_VERSION",
    "entity_messages",
    "content_hash",
    "dead_letter",
    "dumps",
    "utc_now_iso",
]

ARTICLE_SCHEMA_VERSION = "1.1"
DEADLETTER_SCHEMA_VERSION = "1.0"
ENTITY_SCHEMA_VERSION = "1.0"


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def content_hash(text: str) -> str:
    """sha256 of the text with Unicode and whitespace normalised, so the same
    article served by two URLs (or re-rendered with other spacing) hashes alike."""
    normal = " ".join(unicodedata.normalize("NFKC", text).split())
    return "sha256:" + hashlib.sha256(normal.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class ArticleRecord:
    id: str
    url: str
    canonical_url: str
    final_url: str
    fetched_at: str
    http_status: int
    title: str | None
    authors: list[str]
    published: str | None
    site_name: str | None
    language: str | None
    language_confidence: float
    description: str | None
    tags: list[str]
    image: str | None
    text: str
    word_count: int
    blocks: list[Block]
    entities: list[Entity]
    facts: list[Entity]
    entities_status: str
    removed: dict[str, int]
    content_hash: str
    source: str | None = None
    submitted_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    feed_title: str | None = None
    feed_published: str | None = None
    duplicate_of: str | None = None
    processed_at: str = field(default_factory=utc_now_iso)
    schema_version: str = ARTICLE_SCHEMA_VERSION
    paywalled: bool = False  # since 1.1


@dataclass(slots=True)
class DeadLetter:
    url: str | None
    raw: str | None
    stage: str
    error: str
    detail: str
    attempts: int
    failed_at: str
    id: str | None = None
    source: str | None = None
    schema_version: str = DEADLETTER_SCHEMA_VERSION


@dataclass(slots=True)
class EntityMessage:
    """One (article, entity) pair on the entity stream, keyed "LABEL:name"."""

    article_id: str
    url: str
    title: str | None
    published: str | None
    site_name: str | None
    language: str | None
    name: str
    label: str
    count: int
    salience: float
    schema_version: str = ENTITY_SCHEMA_VERSION

    @property
    def key(self) -> bytes:
        return f"{self.label}:{self.name}".encode()


def entity_messages(record: ArticleRecord) -> list[EntityMessage]:
    return [EntityMessage(article_id=record.id, url=record.canonical_url, title=record.title,
                          published=record.published, site_name=record.site_name, language=record.language,
                          name=e.name, label=e.label, count=e.count, salience=e.salience)
            for e in record.entities]


def dead_letter(err: NewswireError, *, url: str | None, raw: bytes | None = None,
                article_id: str | None = None, source: str | None = None) -> DeadLetter:
    """The one place a failure becomes a dead-letter record."""
    raw_text = None
    if url is None and raw is not None:
        # Keep undecodable payloads inspectable: replacement characters, bounded size.
        raw_text = raw[:4096].decode("utf-8", errors="replace")
    return DeadLetter(
        url=url,
        raw=raw_text,
        stage=err.stage,
        error=err.error_code,
        detail=(err.detail or err.error_code)[:1000],
        attempts=err.attempts,
        failed_at=utc_now_iso(),
        id=article_id,
        source=source,
    )


def dumps(record: ArticleRecord | DeadLetter | Any) -> bytes:
    return orjson.dumps(record)

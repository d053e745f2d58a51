"""Records in a few human lines: what `make demo` prints and `newswire tail --format short` shows.

One place for the short form, so the demo and the command show a record the
same way.  Missing fields print as ``None`` (records of an older or newer
schema version still print); a message that is neither an article record nor
a dead letter prints as its JSON (a plain string as itself).
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["describe", "describe_article", "describe_dead_letter", "is_dead_letter", "no_entities"]


def is_dead_letter(record: Any) -> bool:
    return isinstance(record, dict) and "error" in record and "stage" in record and "title" not in record


def describe_dead_letter(record: dict[str, Any]) -> str:
    where = record.get("url") or record.get("raw")
    return f"[dead letter] {where}\n  {record.get('stage')}/{record.get('error')}: {record.get('detail')}"


def no_entities(record: dict[str, Any]) -> str:
    """Why a record has no entities, in words (instead of a bare "-")."""
    status: str = record.get("entities_status") or ""
    if status == "unsupported_language":
        language = record.get("language") or "unknown"
        return (f"none: no NER model for language {language!r} (entities_status: unsupported_language; "
                f"models per language: NEWSWIRE_SPACY_MODELS)")
    reasons = {"disabled": "none: NER is switched off (NEWSWIRE_ENTITIES_ENABLED)",
               "no_text": "none: the article has no text"}
    return reasons.get(status, "none found")


def describe_article(record: dict[str, Any]) -> str:
    via = f"   via feed: {record['feed_title']!r}" if record.get("feed_title") else ""
    top = ", ".join(f"{e['name']} ({e['label']})" for e in (record.get("entities") or [])[:6]) or no_entities(record)
    authors = ", ".join(record.get("authors") or []) or "-"
    text = " ".join((record.get("text") or "")[:160].split())
    return (f"[article] {record.get('title')}\n  site: {record.get('site_name')}   language: {record.get('language')}"
            f"   published: {record.get('published')}   authors: {authors}{via}\n"
            f"  words: {record.get('word_count')}   removed: {record.get('removed')}\n"
            f"  entities: {top}\n  text: {text}...")


def describe(record: Any) -> str:
    """The short form of any message value decoded from JSON."""
    if is_dead_letter(record):
        return describe_dead_letter(record)
    if isinstance(record, dict) and "title" in record and "text" in record:
        return describe_article(record)
    if isinstance(record, str):  # a bare URL on the URL topic, or a value that is not JSON
        return record
    return orjson.dumps(record).decode()

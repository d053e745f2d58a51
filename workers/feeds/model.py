"""Feed subscriptions and per-feed polling state, as plain dataclasses with a JSON form.

A :class:`Subscription` is what an operator asked for; it is the value of the
compacted feeds topic, keyed by the canonical feed URL (a tombstone removes it).
A :class:`FeedState` is what the workers learned by polling; it lives in the
worker's state table and is never edited by hand.  A :class:`FeedStatus` is the
small public summary of a state, published after each poll for ``feeds list``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import orjson

from workers.errors import InvalidMessage
from workers.pipeline.urls import canonicalize_url

__all__ = [
    "FEED_KINDS",
    "FeedState",
    "FeedStatus",
    "SeenEntries",
    "Subscription",
    "entry_fingerprint",
    "format_interval",
    "parse_interval",
]

FEED_KINDS = ("auto", "rss", "atom", "sitemap")
MIN_INTERVAL_S = 1.0

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_interval(text: str) -> float:
    """``"10m"`` -> 600.0; a bare number is seconds.  Raises ValueError."""
    match = _INTERVAL.match(text)
    if not match:
        raise ValueError(f"not an interval: {text!r} (use e.g. 90s, 10m, 1h)")
    seconds = float(match.group(1)) * _UNIT_S[(match.group(2) or "s").lower()]
    if seconds < MIN_INTERVAL_S:
        raise ValueError(f"interval {text!r} is shorter than {MIN_INTERVAL_S:g}s")
    return seconds


def format_interval(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def entry_fingerprint(canonical_url: str) -> str:
    """What a feed remembers of a submitted entry: 64 bits of sha256 of its canonical URL.

    Storing fingerprints instead of URLs keeps a state of thousands of entries
    well under Kafka's message size limit (about 17 bytes per entry in JSON).
    """
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:16]


def _loads(raw: bytes | str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidMessage(f"JSON {type(data).__name__} instead of an object")
    return data


@dataclass(frozen=True, slots=True)
class Subscription:
    url: str  # canonical feed URL; also the message key
    kind: str = "auto"
    interval_s: float = 600.0
    enabled: bool = True
    source: str | None = None  # operator's label, e.g. "bbc-world"

    @classmethod
    def create(cls, url: str, *, kind: str = "auto", interval_s: float = 600.0, enabled: bool = True,
               source: str | None = None) -> Subscription:
        """A validated subscription; the URL is canonicalised (raises InvalidURL)."""
        if kind not in FEED_KINDS:
            raise InvalidMessage(f"unknown feed kind {kind!r}: expected one of {', '.join(FEED_KINDS)}")
        if not interval_s >= MIN_INTERVAL_S:
            raise InvalidMessage(f"interval_s must be at least {MIN_INTERVAL_S:g}")
        return cls(url=canonicalize_url(url), kind=kind, interval_s=float(interval_s), enabled=bool(enabled),
                   source=source or None)

    @property
    def key(self) -> bytes:
        return self.url.encode("utf-8")

    def to_json(self) -> bytes:
        body: dict[str, Any] = {"url": self.url, "kind": self.kind, "interval_s": self.interval_s,
                                "enabled": self.enabled}
        if self.source:
            body["source"] = self.source
        return orjson.dumps(body)

    @classmethod
    def from_json(cls, raw: bytes | str, *, default_interval_s: float = 600.0) -> Subscription:
        data = _loads(raw)
        url = data.get("url")
        if not isinstance(url, str):
            raise InvalidMessage("subscription without a string 'url'")
        source = data.get("source")
        if source is not None and not isinstance(source, str):
            raise InvalidMessage("'source' must be a string")
        interval = data.get("interval_s", default_interval_s)
        if not isinstance(interval, (int, float)) or isinstance(interval, bool):
            raise InvalidMessage("'interval_s' must be a number")
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise InvalidMessage("'enabled' must be true or false")
        return cls.create(url, kind=str(data.get("kind") or "auto"), interval_s=float(interval),
                          enabled=enabled, source=source)


class SeenEntries:
    """The fingerprints of the entries a feed has listed, most recently listed last, at most ``limit``.

    An insertion-ordered dict used as an ordered set: membership, ``touch`` (move
    to the end) and forgetting the oldest are all O(1).
    """

    __slots__ = ("_items", "limit")

    def __init__(self, fingerprints: Iterable[str] = (), limit: int = 2000) -> None:
        self.limit = max(1, limit)
        self._items: dict[str, None] = {}
        for fp in fingerprints:
            self.touch(fp)

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self._items

    def __len__(self) -> int:
        return len(self._items)

    def touch(self, fingerprint: str) -> None:
        """Remember ``fingerprint`` as the most recent one (forgetting the oldest beyond the limit)."""
        self._items.pop(fingerprint, None)
        self._items[fingerprint] = None
        while len(self._items) > self.limit:
            del self._items[next(iter(self._items))]

    def copy(self) -> SeenEntries:
        clone = SeenEntries(limit=self.limit)
        clone._items = dict(self._items)
        return clone

    def as_list(self) -> list[str]:
        return list(self._items)


@dataclass(slots=True)
class FeedState:
    """What polling has learned about one feed (the value of the state table)."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    seen: SeenEntries = field(default_factory=SeenEntries)
    newest_published: str | None = None  # ISO 8601 UTC of the newest entry ever seen
    failures: int = 0  # consecutive failed polls
    backoff_until: float = 0.0  # epoch seconds; no poll before this after failures
    next_poll_at: float = 0.0  # epoch seconds; 0: as soon as possible
    last_poll_at: float = 0.0
    last_status: str = "new"  # ok | not_modified | <error code>
    last_error: str | None = None
    items_seen: int = 0  # entries submitted over the feed's life
    polls: int = 0
    not_modified: int = 0
    title: str | None = None
    # child sitemap URL -> [etag, last_modified, lastmod-from-the-index], for sitemap indexes
    children: dict[str, list[str | None]] = field(default_factory=dict)
    # entry fingerprint -> epoch seconds after which an `updated`/`lastmod` date asks for a refresh:
    # the later of its last submission and the date it had then (only entries that carry such a date)
    refresh_after: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        body["seen"] = self.seen.as_list()
        return orjson.dumps(body)

    @classmethod
    def from_json(cls, raw: bytes | str, *, max_seen: int = 2000) -> FeedState:
        data = _loads(raw)
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["seen"] = SeenEntries(values.get("seen") or (), max_seen)
        return cls(**values)

    def status(self, subscription: Subscription | None = None) -> FeedStatus:
        return FeedStatus(
            url=self.url, last_poll_at=self.last_poll_at, last_status=self.last_status,
            last_error=self.last_error, items_seen=self.items_seen, polls=self.polls,
            not_modified=self.not_modified, failures=self.failures,
            next_poll_at=max(self.next_poll_at, self.backoff_until), newest_published=self.newest_published,
            title=self.title, source=subscription.source if subscription else None,
        )


@dataclass(slots=True)
class FeedStatus:
    """The public summary of a feed's state (the value of the feed status topic)."""

    url: str
    last_poll_at: float = 0.0
    last_status: str = "new"
    last_error: str | None = None
    items_seen: int = 0
    polls: int = 0
    not_modified: int = 0
    failures: int = 0
    next_poll_at: float = 0.0
    newest_published: str | None = None
    title: str | None = None
    source: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> FeedStatus:
        data = _loads(raw)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

"""Poll one feed: (subscription, state) -> (new entries, new state).  No Kafka here.

    poller = FeedPoller(fetcher, PollConfig())
    result = await poller.poll(subscription, state)     # never raises for a feed's failure
    result.new_entries   # entries not submitted before, oldest first
    result.refreshed_entries  # entries submitted before whose updated/lastmod moved past that submission
    result.state         # the state to store (validators, seen entries, schedule, status)

A poll is one conditional GET (``If-None-Match`` / ``If-Modified-Since`` from
the last response), so an unchanged feed costs one ``304``.  A sitemap index
also polls its child sitemaps: those whose ``<lastmod>`` in the index changed,
or that have none (conditionally), newest first and at most
``max_child_sitemaps`` per poll.

An entry is new when its canonical URL is not among the ``max_seen`` most
recently listed ones, and it is not dated more than ``backdate_grace_s``
before the newest publication date the feed ever had (that date catches the
old entries a long feed lists again after the remembered window forgot them).
Only the first ``max_seen`` entries of a document are considered, so a feed
longer than the window cannot resubmit its tail forever.

An entry submitted before is submitted again with ``refresh`` (a revision
check, :mod:`workers.pipeline.revisions`) when its ``updated`` (Atom) or
``lastmod`` (sitemap) date is later than both its last submission and the date
it had then, so a date in the future (a wrong clock on the site) refreshes an
entry once, not at every poll.

A failed poll (any fetch error, a malformed document) sets ``last_status`` to
the error's code and backs off exponentially: the next poll comes after
``interval * 2**failures`` seconds, capped at ``backoff_max_s``.  Successful
polls are scheduled ``interval * uniform(1, 1 + jitter)`` later, so feeds added
together drift apart instead of polling in lockstep.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from workers.errors import NewswireError
from workers.pipeline.fetch import Fetcher

from .fetch import FeedResponse, fetch_feed
from .model import FeedState, SeenEntries, Subscription, entry_fingerprint
from .parse import ChildSitemap, FeedEntry, ParsedFeed, parse_feed

__all__ = ["NOT_MODIFIED", "OK", "FeedPoller", "PollConfig", "PollResult"]

log = logging.getLogger("newswire.feeds")

OK = "ok"
NOT_MODIFIED = "not_modified"
MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class PollConfig:
    max_seen: int = 2000  # entries remembered per feed
    backoff_max_s: float = 6 * 3600.0  # longest wait after repeated failures
    jitter: float = 0.1  # next poll after interval * uniform(1, 1 + jitter)
    first_poll_spread_s: float = 30.0  # a new feed polls within uniform(0, min(this, interval / 10))
    backdate_grace_s: float = 2 * 86400.0
    max_child_sitemaps: int = 20
    max_bytes: int = 5_000_000


@dataclass(slots=True)
class PollResult:
    subscription: Subscription
    state: FeedState
    new_entries: list[FeedEntry] = field(default_factory=list)
    refreshed_entries: list[FeedEntry] = field(default_factory=list)  # submitted before, updated since
    outcome: str = OK  # ok | not_modified | an error code (http_404, timeout, feed_malformed ...)
    requests: int = 0  # documents requested (robots.txt not counted)
    not_modified: int = 0  # of those, answered 304
    bytes: int = 0  # body bytes received, after decompression

    @property
    def failed(self) -> bool:
        return self.outcome not in (OK, NOT_MODIFIED)

    @property
    def newest_new_published(self) -> str | None:
        dates = [e.published for e in self.new_entries if e.published]
        return max(dates) if dates else None


class FeedPoller:
    def __init__(self, fetcher: Fetcher, config: PollConfig | None = None, *,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None) -> None:
        self.fetcher = fetcher
        self.config = config or PollConfig()
        self._clock = clock
        self._rng = rng or random.Random()

    # -- scheduling --------------------------------------------------------------

    def new_state(self, subscription: Subscription) -> FeedState:
        """The state of a feed never polled: due after a small random delay (no lockstep)."""
        spread = min(self.config.first_poll_spread_s, subscription.interval_s / 10)
        return FeedState(url=subscription.url, seen=SeenEntries(limit=self.config.max_seen),
                         next_poll_at=self._clock() + self._rng.uniform(0, spread))

    def due_at(self, subscription: Subscription, state: FeedState) -> float:
        """When the feed should be polled next (epoch seconds).

        A shortened interval takes effect at once: the scheduled time is capped by
        the last poll plus the current interval.
        """
        if state.failures:
            return state.backoff_until
        if state.last_poll_at:
            cap = state.last_poll_at + subscription.interval_s * (1 + self.config.jitter)
            return min(state.next_poll_at, cap)
        return state.next_poll_at

    # -- polling ----------------------------------------------------------------

    async def poll(self, subscription: Subscription, state: FeedState | None = None) -> PollResult:
        """Poll the feed once; failures are reported in the result, never raised."""
        before = state or self.new_state(subscription)
        after = dataclasses.replace(before, seen=before.seen.copy(), children=dict(before.children),
                                    refresh_after=dict(before.refresh_after))
        result = PollResult(subscription=subscription, state=after)
        now = self._clock()
        try:
            await self._poll(subscription, result)
        except NewswireError as exc:
            self._failed(result, exc.error_code, exc.detail or str(exc))
        except Exception as exc:  # a bug must cost one feed one poll, never the worker
            log.exception("feed poll failed unexpectedly", extra={"stage": "feed"})
            self._failed(result, "internal_error", f"{type(exc).__name__}: {exc}")
        else:
            after.failures = 0
            after.backoff_until = 0.0
            after.next_poll_at = now + subscription.interval_s * self._rng.uniform(1, 1 + self.config.jitter)
        after.polls += 1
        after.last_poll_at = now
        after.last_status = result.outcome
        if result.outcome == NOT_MODIFIED:
            after.not_modified += 1
        return result

    def _failed(self, result: PollResult, code: str, detail: str) -> None:
        state, interval = result.state, result.subscription.interval_s
        result.outcome = code
        state.failures += 1
        state.last_error = detail[:MAX_ERROR_CHARS]
        delay = max(interval, min(self.config.backoff_max_s, interval * 2 ** min(state.failures, 30)))
        state.backoff_until = self._clock() + delay * self._rng.uniform(1, 1 + self.config.jitter)
        state.next_poll_at = state.backoff_until

    async def _poll(self, subscription: Subscription, result: PollResult) -> None:
        state = result.state
        response = await self._get(result, subscription.url, state.etag, state.last_modified)
        warnings: list[str] = []
        if response.not_modified:
            result.outcome = NOT_MODIFIED
            # A sitemap index may stay unchanged while its children change: recheck the
            # children it listed without a lastmod (cheap conditional requests).
            children = [ChildSitemap(url) for url, memo in state.children.items() if memo[2] is None]
            entries = await self._poll_children(result, children, warnings)
        else:
            state.etag, state.last_modified = response.etag, response.last_modified
            parsed = self._parse(response, subscription.kind)
            state.title = parsed.title or state.title
            if parsed.warning:
                warnings.append(parsed.warning)
            entries = parsed.entries
            if parsed.is_index:
                listed = {child.url for child in parsed.children}
                state.children = {url: memo for url, memo in state.children.items() if url in listed}
                entries = entries + await self._poll_children(result, parsed.children, warnings)
        result.new_entries = self._select_new(state, entries)
        result.refreshed_entries = self._select_refreshed(state, entries, result.new_entries)
        if (result.new_entries or result.refreshed_entries) and result.outcome == NOT_MODIFIED:
            result.outcome = OK  # the index was unchanged, a child was not
        state.last_error = "; ".join(warnings)[:MAX_ERROR_CHARS] or None

    async def _get(self, result: PollResult, url: str, etag: str | None, last_modified: str | None) -> FeedResponse:
        result.requests += 1
        response = await fetch_feed(self.fetcher, url, etag=etag, last_modified=last_modified)
        result.bytes += len(response.body)
        result.not_modified += response.not_modified
        return response

    def _parse(self, response: FeedResponse, kind: str) -> ParsedFeed:
        return parse_feed(response.body, base_url=response.final_url, content_type=response.content_type,
                          kind=kind, max_bytes=self.config.max_bytes)

    async def _poll_children(self, result: PollResult, children: list[ChildSitemap],
                             warnings: list[str]) -> list[FeedEntry]:
        state = result.state
        todo = [child for child in children
                if child.lastmod is None or state.children.get(child.url, [None, None, None])[2] != child.lastmod]
        todo.sort(key=lambda child: child.lastmod or "", reverse=True)
        entries: list[FeedEntry] = []
        failed: list[str] = []
        for child in todo[: self.config.max_child_sitemaps]:
            etag, last_modified, _ = state.children.get(child.url, [None, None, None])
            try:
                response = await self._get(result, child.url, etag, last_modified)
                if not response.not_modified:
                    parsed = self._parse(response, "sitemap")
                    entries.extend(parsed.entries)  # a nested index's children are not followed
                    etag, last_modified = response.etag, response.last_modified
            except NewswireError as exc:
                failed.append(f"{child.url}: {exc.error_code}")
                continue
            state.children[child.url] = [etag, last_modified, child.lastmod]
        if failed:
            warnings.append(f"{len(failed)} child sitemap(s) failed: " + ", ".join(failed[:5]))
        return entries

    def _select_new(self, state: FeedState, entries: list[FeedEntry]) -> list[FeedEntry]:
        considered = entries[: self.config.max_seen]
        cutoff = None
        if state.newest_published:
            newest = datetime.fromisoformat(state.newest_published)
            cutoff = (newest - timedelta(seconds=self.config.backdate_grace_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
        new: dict[str, FeedEntry] = {}
        listed: list[tuple[str, str]] = []
        for entry in considered:
            fingerprint = entry_fingerprint(entry.url)
            listed.append((entry.published or "", fingerprint))
            if fingerprint in state.seen or fingerprint in new:
                continue
            if cutoff and entry.published and entry.published < cutoff:
                continue
            new[fingerprint] = entry
        # Remember every listed entry, the newest last, so the window forgets the oldest first.
        for _, fingerprint in sorted(listed, key=lambda item: item[0]):
            state.seen.touch(fingerprint)
        # A date in the future (a feed's clock or typo) must not push the cutoff past real entries.
        horizon = datetime.fromtimestamp(self._clock() + 86400, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        dates = [e.published for e in considered if e.published and e.published <= horizon]
        if dates:
            state.newest_published = max([*dates, state.newest_published or ""])
        state.items_seen += len(new)
        return sorted(new.values(), key=lambda e: e.published or "")

    def _select_refreshed(self, state: FeedState, entries: list[FeedEntry], new: list[FeedEntry]) -> list[FeedEntry]:
        """Entries submitted before whose ``updated`` date moved past their last submission; marks all submitted."""
        now = int(self._clock())
        new_urls = {entry.url for entry in new}
        refreshed: dict[str, FeedEntry] = {}
        for entry in entries[: self.config.max_seen]:
            if entry.updated is None:
                continue
            fingerprint = entry_fingerprint(entry.url)
            updated = _epoch(entry.updated)
            mark = state.refresh_after.get(fingerprint)
            if entry.url in new_urls or mark is None:
                # Submitted now (new), or listed before this state kept marks: from here on.
                state.refresh_after[fingerprint] = max(now, updated)
            elif updated > mark and fingerprint not in refreshed:
                refreshed[fingerprint] = entry
                state.refresh_after[fingerprint] = max(now, updated)
        # Marks only for the entries the feed still remembers: bounded like ``seen``.
        for fingerprint in [fp for fp in state.refresh_after if fp not in state.seen]:
            del state.refresh_after[fingerprint]
        return sorted(refreshed.values(), key=lambda e: e.updated or "")


def _epoch(iso: str) -> int:
    """Epoch seconds of a normalised date (``2026-11-25T10:00:00Z``)."""
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())

"""The feed settings, a typed view of the ``feeds_*`` fields of :class:`workers.settings.Settings`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workers.settings import Settings

    from .poller import PollConfig

__all__ = ["FeedSettings"]


@dataclass(frozen=True, slots=True)
class FeedSettings:
    feeds_topic: str = "newswire.feeds"  # compacted: subscriptions keyed by canonical feed URL
    feeds_status_topic: str = "newswire.feeds.status"  # compacted: FeedStatus after each poll, for `feeds list`
    feeds_default_interval_s: float = 600.0  # poll interval of `feeds add` without --every
    feeds_max_seen: int = 2000  # entry URLs remembered per feed
    feeds_tick_s: float = 1.0  # how often a worker looks for due feeds
    feeds_max_concurrent_polls: int = 32  # feed polls in flight per worker
    feeds_backoff_max_s: float = 21600.0  # longest wait after repeated failures of a feed
    feeds_max_child_sitemaps: int = 20  # child sitemaps of an index fetched per poll

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedSettings:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    def poll_config(self, settings: Settings) -> PollConfig:
        from .poller import (
            PollConfig,  # not at import time: the CLI needs none of the polling code
        )

        return PollConfig(max_seen=self.feeds_max_seen, backoff_max_s=self.feeds_backoff_max_s,
                          max_child_sitemaps=self.feeds_max_child_sitemaps, max_bytes=settings.fetch_max_bytes)

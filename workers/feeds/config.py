"""The feed settings, a typed view of the ``feeds_*`` fields of :class:`workers.settings.Settings`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from workers.settings import DEFAULTS, Settings

if TYPE_CHECKING:
    from .poller import PollConfig

__all__ = ["FeedSettings"]


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """Defaults and meanings are the ``feeds_*`` settings' (declared in workers/settings.py)."""

    feeds_topic: str = DEFAULTS.feeds_topic
    feeds_status_topic: str = DEFAULTS.feeds_status_topic
    feeds_default_interval_s: float = DEFAULTS.feeds_default_interval_s
    feeds_max_seen: int = DEFAULTS.feeds_max_seen
    feeds_tick_s: float = DEFAULTS.feeds_tick_s
    feeds_max_concurrent_polls: int = DEFAULTS.feeds_max_concurrent_polls
    feeds_backoff_max_s: float = DEFAULTS.feeds_backoff_max_s
    feeds_max_child_sitemaps: int = DEFAULTS.feeds_max_child_sitemaps

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedSettings:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    def poll_config(self, settings: Settings) -> PollConfig:
        from .poller import (
            PollConfig,  # not at import time: the CLI needs none of the polling code
        )

        return PollConfig(max_seen=self.feeds_max_seen, backoff_max_s=self.feeds_backoff_max_s,
                          max_child_sitemaps=self.feeds_max_child_sitemaps, max_bytes=settings.fetch_max_bytes)

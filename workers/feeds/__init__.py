"""Feeds as URL sources: RSS/Atom/RDF feeds and (news) sitemaps, polled continuously.

Plain modules (no Kafka): :mod:`.model` (subscriptions, state), :mod:`.parse`,
:mod:`.fetch` (conditional GET through the fetch stage), :mod:`.poller`,
:mod:`.discover`.  Kafka wiring: :mod:`.agents` (imported by the worker),
:mod:`.cli` (``newswire feeds``), :mod:`.topics`.
"""

from .cli import add_cli
from .model import FeedState, FeedStatus, Subscription
from .parse import FeedEntry, FeedParseError, NotAFeed, ParsedFeed, parse_feed
from .poller import FeedPoller, PollConfig, PollResult

__all__ = [
    "FeedEntry",
    "FeedParseError",
    "FeedPoller",
    "FeedState",
    "FeedStatus",
    "NotAFeed",
    "ParsedFeed",
    "PollConfig",
    "PollResult",
    "Subscription",
    "add_cli",
    "parse_feed",
]

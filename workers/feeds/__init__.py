"""Feeds as URL sources: RSS/Atom/RDF feeds and (news) sitemaps, polled continuously.

Plain modules (no Kafka): :mod:`.model` (subscriptions, state), :mod:`.parse`,
:mod:`.fetch` (conditional GET through the fetch stage), :mod:`.poller`,
:mod:`.discover`.  Kafka wiring: :mod:`.agents` (imported by the worker),
:mod:`.cli` (``newswire feeds``), :mod:`.topics`.

The names below are imported on first use, so that registering the CLI
(``feeds.add_cli``) does not load the feed parser and the HTTP client into
every ``newswire`` command.
"""

from __future__ import annotations

import importlib
from typing import Any

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

_HOMES = {
    "add_cli": "cli",
    "FeedState": "model", "FeedStatus": "model", "Subscription": "model",
    "FeedEntry": "parse", "FeedParseError": "parse", "NotAFeed": "parse", "ParsedFeed": "parse", "parse_feed": "parse",
    "FeedPoller": "poller", "PollConfig": "poller", "PollResult": "poller",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value

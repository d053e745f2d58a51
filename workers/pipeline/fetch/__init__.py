"""The fetch stage: article URLs to HTTP responses, politely and safely.

``client`` is the fetcher (connection limits, per-host pacing, retries, redirects,
bounded decompression); ``_robots`` answers robots.txt the way crawlers do; ``_ssrf``
keeps requests off loopback, private and metadata addresses.  Other packages use the
names below; the underscored modules are this package's own.
"""

from .client import CHALLENGE_STATUSES, HTML_TYPES, FetchConfig, FetchedPage, Fetcher, decompress_bounded

__all__ = ["CHALLENGE_STATUSES", "HTML_TYPES", "FetchConfig", "FetchedPage", "Fetcher", "decompress_bounded"]

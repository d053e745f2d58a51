"""Per-site health: the site of a URL, a bounded set of site labels, and the publication lag.

* :func:`site_of` names a URL's site by its registrable domain (``www.bbc.co.uk``
  -> ``bbc.co.uk``) with the Public Suffix List as the ``tld`` package ships it:
  the list bundled with the installed version, never fetched at run time.
  Hosts the list does not cover (IP addresses, ``localhost``, private names)
  are their own site.
* :class:`SiteLabels` keeps the metric's ``site`` label bounded: at most
  ``limit`` sites have their own series, the busiest by volume; the others are
  ``other``.  A site that overtakes the quietest labelled one by a clear
  margin takes its place, and the one it replaces loses its series (from then
  on it counts as ``other``), so the label set follows the traffic without
  growing.
* :func:`publish_lag_seconds`: seconds from the page's declared publication
  time to the record; None when the page declares no time of day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from tld import get_fld

__all__ = ["OTHER", "SiteLabels", "publish_lag_seconds", "site_of"]

OTHER = "other"
UNKNOWN = "unknown"
# A site must have this many times the events of the quietest labelled site to replace it: the
# label set does not churn when two sites of similar volume take turns.
_OVERTAKE = 2.0


def site_of(url: str | None) -> str:
    """The registrable domain of ``url``'s host, the host itself when the list has no suffix for it."""
    try:
        host = (urlsplit(url or "").hostname or "").rstrip(".").lower()
    except ValueError:
        return UNKNOWN
    if not host:
        return UNKNOWN
    domain = get_fld(host, fix_protocol=True, fail_silently=True)
    return str(domain) if domain else host


class SiteLabels:
    """The label for a site's events: its own name for the top ``limit`` sites by volume, else ``other``.

    ``on_evict(site)`` is called when a site loses its label, so the caller can
    drop its series.  Volumes are counted for at most ``10 * limit`` (>= 1000)
    sites; when that fills up, the quieter half of the unlabelled ones is forgotten.
    """

    def __init__(self, limit: int, on_evict: Callable[[str], None] | None = None) -> None:
        self.limit = max(0, limit)
        self.on_evict = on_evict or (lambda site: None)
        self.counts: dict[str, int] = {}
        self.labelled: set[str] = set()

    def label(self, site: str) -> str:
        count = self.counts.get(site, 0) + 1
        self.counts[site] = count
        if site in self.labelled:
            return site
        if len(self.labelled) < self.limit:
            self.labelled.add(site)
            self._bound()
            return site
        if self.labelled:
            quietest = min(self.labelled, key=lambda s: self.counts.get(s, 0))
            if count >= _OVERTAKE * max(1, self.counts.get(quietest, 0)):
                self.labelled.discard(quietest)
                self.labelled.add(site)
                self.on_evict(quietest)
                self._bound()
                return site
        self._bound()
        return OTHER

    def _bound(self) -> None:
        if len(self.counts) <= max(1000, 10 * self.limit):
            return
        unlabelled = sorted((c, s) for s, c in self.counts.items() if s not in self.labelled)
        for _count, site in unlabelled[: len(unlabelled) // 2 + 1]:
            del self.counts[site]


def publish_lag_seconds(published: str | None, recorded: str) -> float | None:
    """Seconds from ``published`` (ISO 8601 with a time and an offset) to ``recorded``; None without a time.

    A bare date (``2024-02-07``) is not counted: its error would be up to a day.
    A publication time after the record (a wrong clock or zone on the site) counts as 0.
    """
    if not published or "T" not in published:
        return None
    try:
        start = datetime.fromisoformat(published.replace("Z", "+00:00"))
        end = datetime.fromisoformat(recorded.replace("Z", "+00:00"))
    except ValueError:
        return None
    if start.tzinfo is None or end.tzinfo is None:
        return None
    return max(0.0, (end - start).total_seconds())

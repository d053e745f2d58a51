"""Feed part of `make demo`: serve an RSS feed of the demo pages, follow it, publish one more story.

Used by scripts/demo.py after the worker is ready::

    from scripts.demo_feed import DemoFeed, newswire_feeds

    feed = DemoFeed.serve(pages, urls[:-1])               # an RSS feed of all pages but the last
    newswire_feeds(env, "add", feed.url, "--every", "3s", "--source", "demo")
    feed.wait_polls(1)                                     # the first poll submits the feed's entries
    feed.publish(urls[-1])                                 # the next poll submits just this one
    feed.wait_polls(2)
    ...                                                    # records arrive with source = feed.url
    print(newswire_feeds(env, "list"))

Everything is served from 127.0.0.1 by the demo's PageServer.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from workers.local.feeds import Item, ServedFeed, rss_document
from workers.local.pages import PageServer

__all__ = ["DemoFeed", "newswire_feeds"]

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _page_title(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:  # the demo's own page server
        match = _TITLE.search(resp.read(200_000))
    if not match:
        return url.rsplit("/", 1)[-1]
    return " ".join(html.unescape(match.group(1).decode("utf-8", "replace")).split())


@dataclass
class DemoFeed:
    url: str
    served: ServedFeed
    items: list[Item] = field(default_factory=list)

    @classmethod
    def serve(cls, pages: PageServer, urls: list[str], path: str = "/feeds/demo.xml") -> DemoFeed:
        now = time.time()
        items = [Item(url, _page_title(url), now - 60 * (len(urls) - i)) for i, url in enumerate(urls)]
        served = ServedFeed(rss_document("newswire demo news", list(reversed(items)), link=pages.url("/")))
        return cls(url=pages.add(path, served), served=served, items=items)

    def publish(self, url: str) -> None:
        """Add a story to the top of the feed (new ETag: the next poll fetches it in full)."""
        self.items.append(Item(url, _page_title(url), time.time()))
        self.served.update(rss_document("newswire demo news", list(reversed(self.items))))

    def wait_polls(self, polls: int, timeout: float = 120.0) -> None:
        """Wait until the workers have requested the feed ``polls`` times in all."""
        deadline = time.monotonic() + timeout
        while self.served.requests < polls:
            if time.monotonic() > deadline:
                raise SystemExit(f"the feed was not polled {polls} time(s) within {timeout:g}s")
            time.sleep(0.2)

    def summary(self) -> str:
        s = self.served
        return f"feed served {s.requests} time(s): {s.requests - s.not_modified} full, {s.not_modified} x 304"


def newswire_feeds(env: dict[str, str], *args: str) -> str:
    """Run `newswire feeds ARGS`."""
    result = subprocess.run([sys.executable, "-m", "workers", "feeds", *args], env=env, capture_output=True,
                            text=True, check=True)
    return result.stdout + result.stderr

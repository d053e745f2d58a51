"""``newswire sites``: per-site outcomes from running workers' ``/metrics``, for operators without Grafana.

    newswire sites                                  # the worker at NEWSWIRE_WEB_HOST:NEWSWIRE_WEB_PORT
    newswire sites --url http://10.0.0.5:6066/metrics --url http://10.0.0.6:6066/metrics
    newswire sites --sort failures --json

Reads ``newswire_site_outcomes_total{site,outcome}`` (parsed with
``prometheus_client.parser``, the text format's own parser), sums it over the
workers given, and prints one line per site: articles, failures, yield (the
share that became articles) and the commonest failure codes.  Counts are since
each worker started; a site outside a worker's top ``NEWSWIRE_SITE_METRICS_MAX``
is in ``other``.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

import orjson
from prometheus_client.parser import text_string_to_metric_families

from .settings import Settings

__all__ = ["SiteOutcomes", "add_cli", "format_table", "scrape", "site_outcomes"]

METRIC = "newswire_site_outcomes_total"
_TIMEOUT_S = 5.0


@dataclass(slots=True)
class SiteOutcomes:
    site: str
    outcomes: dict[str, float] = field(default_factory=dict)

    @property
    def articles(self) -> int:
        return int(self.outcomes.get("article", 0))

    @property
    def failures(self) -> int:
        return int(sum(v for k, v in self.outcomes.items() if k != "article"))

    @property
    def total(self) -> int:
        return self.articles + self.failures

    @property
    def yield_share(self) -> float:
        return self.articles / self.total if self.total else 0.0

    def top_failures(self, n: int = 3) -> list[tuple[str, int]]:
        codes = sorted(((k, int(v)) for k, v in self.outcomes.items() if k != "article" and v),
                       key=lambda kv: (-kv[1], kv[0]))
        return codes[:n]


def scrape(url: str, timeout: float = _TIMEOUT_S) -> str:
    """The text of one ``/metrics`` page; raises OSError with a readable message."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - an operator's own URL
            return response.read().decode("utf-8", errors="replace")
    except urllib.error.URLError as exc:
        raise OSError(f"cannot read {url}: {exc.reason}") from None
    except (TimeoutError, ValueError) as exc:
        raise OSError(f"cannot read {url}: {exc}") from None


def site_outcomes(texts: Iterable[str]) -> list[SiteOutcomes]:
    """Per-site outcome counts summed over the ``/metrics`` texts of several workers."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == METRIC:
                    sums[sample.labels.get("site", "?")][sample.labels.get("outcome", "?")] += sample.value
    return [SiteOutcomes(site, dict(outcomes)) for site, outcomes in sums.items()]


_SORTS = {
    "total": lambda s: (-s.total, s.site),
    "failures": lambda s: (-s.failures, s.site),
    "yield": lambda s: (s.yield_share, -s.total, s.site),
    "site": lambda s: (s.site,),
}


def format_table(sites: list[SiteOutcomes], sort: str = "total") -> str:
    rows = sorted(sites, key=_SORTS[sort])
    width = max([len("site"), *(len(s.site) for s in rows)])
    lines = [f"{'site':<{width}}  {'articles':>8}  {'failed':>7}  {'yield':>6}  top failures"]
    for s in rows:
        failures = ", ".join(f"{code} {count}" for code, count in s.top_failures())
        lines.append(f"{s.site:<{width}}  {s.articles:>8}  {s.failures:>7}  {s.yield_share:>6.1%}  {failures}")
    total = SiteOutcomes("(all)")
    for s in rows:
        for outcome, value in s.outcomes.items():
            total.outcomes[outcome] = total.outcomes.get(outcome, 0) + value
    lines.append(f"{total.site:<{width}}  {total.articles:>8}  {total.failures:>7}  {total.yield_share:>6.1%}  "
                 + ", ".join(f"{code} {count}" for code, count in total.top_failures()))
    return "\n".join(lines)


def _default_url(settings: Settings) -> str:
    host = settings.web_host if settings.web_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{settings.web_port}/metrics"


def _run(args: argparse.Namespace) -> int:
    urls = args.url or [_default_url(Settings.from_env())]
    try:
        texts = [scrape(url) for url in urls]
    except OSError as exc:
        print(f"newswire: {exc} (is a worker running? pass its metrics address with --url)", file=sys.stderr)
        return 2
    sites = site_outcomes(texts)
    if args.json:
        out: list[dict[str, Any]] = [
            {"site": s.site, "articles": s.articles, "failures": s.failures, "yield": round(s.yield_share, 4),
             "outcomes": {k: int(v) for k, v in sorted(s.outcomes.items())}}
            for s in sorted(sites, key=_SORTS[args.sort])]
        sys.stdout.buffer.write(orjson.dumps(out, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    if not sites:
        print("no submissions finished yet on " + ", ".join(urls))
        return 0
    print(format_table(sites, args.sort))
    return 0


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("sites", help="per-site outcomes (articles, failures by code) from running workers")
    p.add_argument("--url", action="append", help="a worker's /metrics URL (repeat to sum several workers; "
                                                  "default: NEWSWIRE_WEB_HOST:NEWSWIRE_WEB_PORT)")
    p.add_argument("--sort", choices=sorted(_SORTS), default="total", help="order of the sites (default: total)")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(handler=_run)

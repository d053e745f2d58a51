"""``newswire sites``: per-site outcomes from running workers' ``/metrics``, for operators without Grafana.

    newswire sites                                  # the worker at NEWSWIRE_WEB_HOST:NEWSWIRE_WEB_PORT
    newswire sites --port 6067
    newswire sites --url http://10.0.0.5:6066 --url http://10.0.0.6:6066/metrics
    newswire sites --sort failures --json

Reads each worker as ``newswire status`` does (:func:`workers.cli.status.read_worker`:
``/readyz`` to know it is a newswire worker, ``/metrics`` parsed with
``prometheus_client``'s own parser), sums ``newswire_site_outcomes_total{site,outcome}``
over the workers given, and prints one line per site: articles, failures,
yield (the share that became articles) and the commonest failure codes.
Counts are since each worker started; a site outside a worker's top
``NEWSWIRE_SITE_METRICS_MAX`` is in ``other``.  A worker that does not answer
gives one line and exit code 1, as for ``newswire status``.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from workers.cli.status import Samples, WorkerUnreachable, read_worker, worker_url
from workers.settings import Settings

__all__ = ["SiteOutcomes", "add_cli", "format_table", "site_outcomes"]

METRIC = "newswire_site_outcomes_total"


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


def site_outcomes(workers: Iterable[Samples]) -> list[SiteOutcomes]:
    """Per-site outcome counts summed over the parsed ``/metrics`` of several workers."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for samples in workers:
        for (name, labels), value in samples.items():
            if name == METRIC:
                label = dict(labels)
                sums[label.get("site", "?")][label.get("outcome", "?")] += value
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


def _base_url(url: str) -> str:
    """A worker's web address from what an operator gives: ``http://host:port`` or its ``/metrics`` URL."""
    url = url.rstrip("/")
    return url[: -len("/metrics")] if url.endswith("/metrics") else url


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    urls = [_base_url(u) for u in args.url] if args.url else [worker_url(settings, port=args.port)]
    try:
        workers = [read_worker(url, timeout=args.timeout)[1] for url in urls]
    except WorkerUnreachable as err:
        print(f"newswire: {err}", file=sys.stderr)
        return 1
    sites = site_outcomes(workers)
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
    where = p.add_mutually_exclusive_group()
    where.add_argument("--port", type=int, help="a worker's web port on this host (default: NEWSWIRE_WEB_PORT)")
    where.add_argument("--url", action="append", help="a worker's web address, http://host:port (or its /metrics "
                                                      "URL); repeat to sum several workers")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each worker's answer")
    p.add_argument("--sort", choices=sorted(_SORTS), default="total", help="order of the sites (default: total)")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(handler=_run)

"""Profile of the CPU hot path: the stages one pool process runs per page.

    python benchmarks/profile_hotpath.py [--pages N] [--top 25] [--no-entities]

Runs :func:`workers.pipeline.analyse.analyse_page` (decode, extract, dedupe,
enrich, record) over the extraction-dev pages in this process under cProfile,
prints the share of time per stage (from the stage timings the pool reports
to the metrics) and the functions with the most cumulative time.  This is
what pointed the optimisations: NER dominates, so the NER pipeline runs only
its ``ner`` component (no tok2vec, parser, tagger) inside ``memory_zone``;
each page is parsed once; only bytes go into the pool and one record comes out.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import pstats
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from workers.errors import NewswireError  # noqa: E402
from workers.pipeline.analyse import AnalyseOptions, PageInput, analyse_page  # noqa: E402
from workers.pipeline.entities import EntityConfig  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "extraction-dev" / "html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=0, help="limit the number of pages (0: all)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-entities", action="store_true")
    args = parser.parse_args(argv)

    bodies = [gzip.decompress(p.read_bytes()) for p in sorted(DATA.glob("*.html.gz"))]
    bodies = bodies[:args.pages] if args.pages else bodies
    options = AnalyseOptions(EntityConfig(enabled=not args.no_entities))

    def page(i: int, body: bytes) -> PageInput:
        url = f"https://news.example/{i}"
        return PageInput(body=body, url=url, canonical_url=url, final_url=url, fetched_at="2024-01-01T00:00:00Z")

    analyse_page(page(0, bodies[0]), options)  # load the model outside the measurement
    totals: dict[str, float] = {}
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for i, body in enumerate(bodies):
        timings: dict[str, float] = {}
        try:
            analyse_page(page(i, body), options, timings)
        except NewswireError as err:
            print(f"page {i}: {err}", file=sys.stderr)
        for stage, seconds in timings.items():
            totals[stage] = totals.get(stage, 0.0) + seconds
    profiler.disable()
    wall = time.perf_counter() - started

    print(f"# {len(bodies)} pages in {wall:.1f} s under cProfile ({len(bodies) / wall:.1f} pages/s)")
    staged = sum(totals.values())
    for stage, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:<8} {seconds:7.2f} s  {seconds / staged:6.1%}  {1000 * seconds / len(bodies):6.1f} ms/page")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())

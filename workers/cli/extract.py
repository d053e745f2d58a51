"""``newswire extract``: run the pipeline on URLs or saved pages, without Kafka."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.cli.inputs import Inputs, Lines, extract_inputs, ordered
from workers.cli.options import add_quiet
from workers.cli.progress import Progress, extract_summary, wants_progress
from workers.errors import NewswireError
from workers.settings import Settings

if TYPE_CHECKING:
    from workers.pipeline.runner import ArticlePipeline

__all__ = ['add_cli', 'extract', 'run']


def add_cli(sub: Any) -> None:
    p = sub.add_parser("extract", help="run the pipeline on URLs or .html/.html.gz files, without Kafka")
    p.add_argument("inputs", nargs="+", help="http(s) URLs or paths to .html / .html.gz files; '-' reads them "
                   "from stdin, one per line")
    p.add_argument("--no-entities", action="store_true", help="skip named-entity recognition")
    add_quiet(p)
    p.add_argument("--explain", action="store_true", help="list each block the cleaning stages removed and the rule")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if "-" in args.inputs and args.inputs != ["-"]:
        print("newswire: '-' (inputs from stdin) goes alone, without other inputs", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    if args.explain:
        from workers.pipeline.explain import explain_inputs

        items = list(Lines()(sys.stdin)) if args.inputs == ["-"] else args.inputs
        listing, failed = asyncio.run(explain_inputs(items, settings))
        print(listing)
        return 1 if failed else 0
    inputs, total = extract_inputs(args.inputs, sys.stdin)
    with Progress(total=total, unit="page", enabled=wants_progress(sys.stderr, quiet=args.quiet)) as progress:
        try:
            code = asyncio.run(extract(settings, inputs, entities=not args.no_entities, progress=progress,
                                        expected=total))
        except KeyboardInterrupt:  # stopped by hand: still say how far it got
            progress.close()
            if not args.quiet and progress.tally.done:
                print(extract_summary(progress.tally) + " (interrupted)", file=sys.stderr)
            raise
    if progress.tally.done == 0:
        print("newswire: no inputs given (pass them as arguments, or one per line on stdin with '-')", file=sys.stderr)
        return 2
    if not args.quiet:
        print(extract_summary(progress.tally), file=sys.stderr)
    return code


async def extract(settings: Settings, inputs: Inputs, *, entities: bool,
                   progress: Progress | None = None, expected: int | None = None,
                   pipeline: ArticlePipeline | None = None) -> int:
    """Print one JSON line per input, in input order; 1 if any input failed.

    ``pipeline`` lets a caller (the benchmark) reuse a warm pool across runs;
    one made here is closed here.
    """
    from workers.pipeline.record import dead_letter, dumps
    from workers.pipeline.runner import ArticlePipeline
    from workers.pipeline.submission import decode_submission

    progress = progress or Progress(total=expected, unit="page", enabled=False)
    pool_size = min(settings.effective_pool_size, expected or settings.effective_pool_size)
    own = pipeline is None
    pipeline = pipeline or ArticlePipeline(settings, entities=entities, pool_size=max(1, pool_size))

    async def one(item: str) -> tuple[bytes, str | None]:
        try:
            if "://" in item:
                record = await pipeline.process(decode_submission(item))
            else:
                record = await pipeline.process_file(Path(item))
            return dumps(record), None
        except NewswireError as err:
            return dumps(dead_letter(err, url=item)), err.error_code

    out = sys.stdout.buffer
    try:
        # Run concurrently (a bounded window), print in input order as results become available.
        window = max(settings.max_in_flight, 4 * pipeline.pool.size)
        async for line, failure in ordered(inputs, one, window):
            with progress.writing_output():
                out.write(line + b"\n")
                out.flush()
            progress.advance(failure)
    finally:
        if own:
            await pipeline.close()
    return 1 if progress.tally.failed else 0

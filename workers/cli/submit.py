"""``newswire submit``: send URLs to the URL topic, each counted on the progress as it is acknowledged."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from workers.cli.inputs import Lines
from workers.cli.options import add_quiet
from workers.cli.progress import Progress, submit_summary, wants_progress
from workers.errors import NewswireError
from workers.settings import Settings

__all__ = ["add_cli", "refusal", "run", "send_urls"]


def add_cli(sub: Any) -> None:
    p = sub.add_parser("submit", help="submit article URLs to the URL topic")
    p.add_argument("urls", nargs="*", help="URLs; none or '-' reads one URL per line from stdin")
    p.add_argument("--source", help="source label carried into the records")
    add_quiet(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    lines = Lines()
    urls = list(lines(_url_lines(args.urls)))
    if not urls:
        print("newswire: no URLs given (pass them as arguments or one per line on stdin)", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    with Progress(total=len(urls), unit="url", enabled=wants_progress(sys.stderr, quiet=args.quiet)) as progress:
        invalid = asyncio.run(send_urls(settings, urls, args.source, progress))
    print(f"submitted {progress.tally.succeeded} URL(s) to {settings.input_topic}", file=sys.stderr)
    if not args.quiet:
        print(submit_summary(progress.tally, skipped=lines.skipped, invalid=invalid), file=sys.stderr)
    return 1 if progress.tally.failed else 0


def _url_lines(items: Sequence[str]) -> Iterable[str]:
    if not items or list(items) == ["-"]:
        return sys.stdin.read().splitlines()
    return items





async def send_urls(settings: Settings, urls: list[str], source: str | None, progress: Progress) -> int:
    """Send every URL; returns how many sent ones are not valid URLs (sent all the same: the worker dead-letters them).

    A message the client or the broker refuses (too large, not authorised, timed
    out) is counted with its reason on ``progress`` and the others still go.
    """
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    from workers.kafka.diagnosis import start_client
    from workers.kafka.options import aiokafka_options
    from workers.pipeline.submission import Submission, encode_submission
    from workers.pipeline.urls import canonicalize_url

    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", enable_idempotence=True)
    await start_client(producer, settings)
    invalid = 0

    def acknowledged(url: str, valid: bool, fut: asyncio.Future[object]) -> None:
        nonlocal invalid
        error = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if error is None:
            invalid += not valid
            progress.advance()
        else:
            progress.advance(type(error).__name__, refusal(url, error))

    try:
        futures = []
        for url in urls:
            valid = True
            try:
                key = canonicalize_url(url).encode()
            except NewswireError:
                key = url.encode()  # the worker will dead-letter it with the reason
                valid = False
            value = encode_submission(Submission(url=url, source=source, submitted_at=now))
            try:
                fut = await producer.send(settings.input_topic, value=value, key=key)
            except KafkaError as err:  # refused before sending, e.g. larger than max_request_size
                progress.advance(type(err).__name__, refusal(url, err))
                continue
            fut.add_done_callback(partial(acknowledged, url, valid))
            futures.append(fut)
        if futures:
            await asyncio.wait(futures)
    finally:
        await producer.stop()
    return invalid


def refusal(url: str, error: BaseException) -> str:
    shown = url if len(url) <= 80 else url[:77] + "..."
    return f"{shown}: {str(error) or type(error).__name__}"

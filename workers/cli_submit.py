"""Sending the URLs of `newswire submit` to the URL topic, each counted on the progress as it is acknowledged."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from functools import partial

from .cli_progress import Progress
from .errors import NewswireError
from .settings import Settings

__all__ = ["refusal", "send_urls"]


async def send_urls(settings: Settings, urls: list[str], source: str | None, progress: Progress, *,
                    refresh: bool = False) -> int:
    """Send every URL; returns how many sent ones are not valid URLs (sent all the same: the worker dead-letters them).

    A message the client or the broker refuses (too large, not authorised, timed
    out) is counted with its reason on ``progress`` and the others still go.
    """
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    from .kafka_errors import start_client
    from .kafka_options import aiokafka_options
    from .pipeline.submission import Submission, encode_submission
    from .pipeline.urls import canonicalize_url

    now = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
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
            value = encode_submission(Submission(url=url, source=source, submitted_at=now, refresh=refresh))
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

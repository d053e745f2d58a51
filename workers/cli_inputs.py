"""Inputs of `newswire submit` and `newswire extract`: arguments or lines of stdin, run in a bounded window.

Both commands take one input per line on stdin (``-``), skipping blank lines
and ``#`` comments.  ``extract`` does not read a large stdin into memory before
starting: a pipe is read as the work goes, and at most ``window`` inputs are in
progress at once, so a folder of 100,000 pages runs in constant memory.  Its
output keeps input order.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import IO, Any, TypeVar

__all__ = ["Lines", "is_regular_file", "ordered", "stream_lines"]

T = TypeVar("T")


class Lines:
    """Filters raw lines to inputs: stripped, blank and ``#`` lines skipped and counted."""

    def __init__(self) -> None:
        self.skipped = 0

    def keep(self, line: str) -> str | None:
        line = line.strip()
        if line and not line.startswith("#"):
            return line
        self.skipped += 1
        return None

    def __call__(self, lines: Iterable[str]) -> Iterator[str]:
        for line in lines:
            kept = self.keep(line)
            if kept is not None:
                yield kept


def is_regular_file(stream: IO[Any]) -> bool:
    """stdin redirected from a file (``< urls.txt``) can be counted up front; a pipe or terminal cannot."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


async def stream_lines(stream: IO[str], lines: Lines) -> AsyncIterator[str]:
    """The inputs of a stream that may block (a pipe still being written), read off the event loop."""
    while True:
        raw = await asyncio.to_thread(stream.readline)
        if not raw:
            return
        kept = lines.keep(raw)
        if kept is not None:
            yield kept


async def ordered(items: AsyncIterator[str] | Iterable[str], work: Callable[[str], Awaitable[T]],
                  window: int) -> AsyncIterator[T]:
    """Run ``work`` on the items, at most ``window`` at once; yield the results in input order."""
    started: asyncio.Queue[asyncio.Future[T] | None] = asyncio.Queue(maxsize=max(1, window))

    async def start_all() -> None:
        try:
            if isinstance(items, AsyncIterator):
                async for item in items:
                    await started.put(asyncio.ensure_future(work(item)))
            else:
                for item in items:
                    await started.put(asyncio.ensure_future(work(item)))
        finally:
            await started.put(None)

    feeder = asyncio.ensure_future(start_all())
    try:
        while (task := await started.get()) is not None:
            yield await task
        await feeder  # re-raises an error of the input side (e.g. an unreadable stdin)
    finally:
        if not feeder.done():
            feeder.cancel()
        while not started.empty():
            pending = started.get_nowait()
            if pending is not None:
                pending.cancel()

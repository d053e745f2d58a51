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
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import IO, Any, TypeVar

__all__ = ["Inputs", "Lines", "extract_inputs", "is_regular_file", "ordered", "stream_lines"]

T = TypeVar("T")
Inputs = Iterable[str] | AsyncIterator[str]


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


async def stream_lines(stream: IO[str], lines: Lines, buffer: int = 256) -> AsyncIterator[str]:
    """The inputs of a stream that may block (a pipe still being written), read off the event loop.

    A daemon thread reads ahead at most ``buffer`` inputs.  It is not one of
    the event loop's executor threads: those are joined when ``asyncio.run``
    ends, and a read blocked on a pipe whose writer is still open would keep a
    command stopped with Ctrl-C from exiting.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue(maxsize=buffer)

    def hand_over(item: str | BaseException | None) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def read() -> None:
        try:
            for raw in iter(stream.readline, ""):
                kept = lines.keep(raw)
                if kept is not None:
                    hand_over(kept)
            hand_over(None)
        except RuntimeError:  # the event loop is gone: nobody reads any more
            return
        except BaseException as err:  # e.g. stdin not UTF-8: raised where the inputs are consumed
            try:
                hand_over(err)
            except RuntimeError:
                return

    threading.Thread(target=read, name="stdin-reader", daemon=True).start()
    while (item := await queue.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item


def extract_inputs(items: list[str], stdin: IO[str]) -> tuple[Inputs, int | None]:
    """The inputs of `extract` and their number when it is known before starting.

    ``["-"]`` means stdin: a file (``< list.txt``) is read at once, so the
    progress line has a total and an ETA; a pipe is read as the work goes.
    """
    if items != ["-"]:
        return items, len(items)
    lines = Lines()
    if is_regular_file(stdin):
        listed = list(lines(stdin))
        return listed, len(listed)
    return stream_lines(stdin, lines), None


async def ordered(items: Inputs, work: Callable[[str], Awaitable[T]],
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

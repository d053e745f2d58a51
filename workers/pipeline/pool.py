"""A process pool for the CPU stages, so extraction and NER never block the event loop.

Processes are started with ``spawn`` (no forked copies of the event loop, the
Kafka clients or their threads) and import the installed ``workers`` package.
Each process loads the first language's spaCy model once, in its initializer, and
each other language's model once, on its first article.  Processes are not
recycled: the NER stage frees each article's strings (spaCy's ``memory_zone``),
so memory stays flat, and Python 3.11's ``max_tasks_per_child`` can stop
replacing processes (CPython gh-115634), which would stall the pool.
A crashed process (OOM kill, segfault) breaks the whole executor: the pool is
rebuilt and the page is tried once more before it is reported as failed.
A pool process whose worker died (SIGKILL leaves no chance to shut the pool
down) notices that it was orphaned and exits.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..errors import ExtractFailed
from .analyse import AnalyseOptions, PageInput, analyse_page
from .entities import get_recognizer
from .record import ArticleRecord

__all__ = ["CpuPool"]

log = logging.getLogger(__name__)

_options: AnalyseOptions | None = None


def _init_process(options: AnalyseOptions) -> None:
    global _options
    _options = options
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), name="orphan-watch", daemon=True).start()
    if options.entities.enabled:
        # The first language's model now, not on the first article; the other
        # languages' models load on their first article (memory only for what is used).
        get_recognizer(options.entities).warm_up()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)  # the worker is gone: nobody will ever read our results


def _run(page: PageInput) -> tuple[ArticleRecord, dict[str, float]]:
    assert _options is not None, "pool process not initialised"
    timings: dict[str, float] = {}
    return analyse_page(page, _options, timings), timings


class CpuPool:
    def __init__(self, options: AnalyseOptions, size: int) -> None:
        self.options = options
        self.size = size
        self._executor: ProcessPoolExecutor | None = None
        self.pending = 0  # pages submitted and not yet returned (queue depth)

    def start(self) -> None:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.size,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_process,
                initargs=(self.options,),
            )

    def warm_up(self) -> None:
        """Start every process now (model loaded) instead of on the first page."""
        self.start()
        assert self._executor is not None
        futures = [self._executor.submit(_noop) for _ in range(self.size)]
        for fut in futures:
            fut.result()

    @property
    def running(self) -> bool:
        return self._executor is not None

    async def analyse(self, page: PageInput) -> tuple[ArticleRecord, dict[str, float]]:
        """The record for ``page`` and the seconds each CPU stage took."""
        loop = asyncio.get_running_loop()
        self.pending += 1
        try:
            for attempt in (1, 2):
                self.start()
                try:
                    return await loop.run_in_executor(self._executor, _run, page)
                except BrokenProcessPool:
                    log.warning("process pool broke (a worker process died); rebuilding it",
                                extra={"url": page.url, "attempt": attempt})
                    self._discard()
            raise ExtractFailed("a pool process died twice while analysing this page", attempts=2)
        finally:
            self.pending -= 1

    def _discard(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _noop() -> None:
    return None

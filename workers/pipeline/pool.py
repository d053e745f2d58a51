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

With NER enabled a page takes two tasks: extraction and dedupe, then NER.
The articles waiting for NER are batched on the event loop
(:class:`~workers.pipeline.batcher.MicroBatcher`: up to ``NER_BATCH_MAX``
articles, or ``NER_BATCH_WAIT_S`` after the first, whichever comes first, and
batches grow while every process is busy) and each batch is ONE task running
``nlp.pipe`` over all its articles (:func:`~workers.pipeline.ner_batch.enrich_isolated`);
an article that fails NER fails alone.  If a process dies under a batch, its
articles are retried one by one, so only the article that kills a process
is reported as failed.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ..errors import ExtractFailed
from .analyse import AnalyseOptions, PageInput, PreparedPage, analyse_page, apply_enrichment, prepare_page
from .batcher import MicroBatcher
from .entities import Enrichment, get_recognizer
from .ner_batch import NerInput, NerOutcome, enrich_isolated
from .record import ArticleRecord

__all__ = ["CpuPool", "NER_BATCH_MAX", "NER_BATCH_WAIT_S"]

# At most this many articles share one NER task; a lone article waits at most
# NER_BATCH_WAIT_S for batch-mates (NER itself takes 5-50 ms per article).
NER_BATCH_MAX = 8
NER_BATCH_WAIT_S = 0.002
_DIED_TWICE = "a pool process died twice while analysing this page"
_T = TypeVar("_T")

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
    """The whole page in one task (NER disabled, or not batched)."""
    assert _options is not None, "pool process not initialised"
    timings: dict[str, float] = {}
    return analyse_page(page, _options, timings), timings


def _prepare(page: PageInput) -> tuple[PreparedPage, dict[str, float]]:
    assert _options is not None, "pool process not initialised"
    timings: dict[str, float] = {}
    return prepare_page(page, _options, timings), timings


def _enrich(items: list[NerInput]) -> list[NerOutcome]:
    assert _options is not None, "pool process not initialised"
    return enrich_isolated(get_recognizer(_options.entities), items)


class CpuPool:
    def __init__(self, options: AnalyseOptions, size: int, *, batch_ner: bool = True,
                 ner_batch_max: int = NER_BATCH_MAX, ner_batch_wait_s: float = NER_BATCH_WAIT_S) -> None:
        self.options = options
        self.size = size
        # False: each page in one task, NER included (no batching; benchmarks compare the two).
        self.batch_ner = batch_ner
        self._executor: ProcessPoolExecutor | None = None
        self.pending = 0  # pages submitted and not yet returned (queue depth)
        # One NER batch per process at a time: while all are busy, articles gather into the next batch.
        self._ner: MicroBatcher[NerInput, tuple[Enrichment, float]] = MicroBatcher(
            self._enrich_batch, max_size=ner_batch_max, max_wait_s=ner_batch_wait_s, max_in_flight=size)

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
        self.pending += 1
        try:
            if not (self.batch_ner and self.options.entities.enabled):
                return await self._submit(_run, page, url=page.url)
            prepared, timings = await self._submit(_prepare, page, url=page.url)
            enrichment, timings["enrich"] = await self._ner.submit(prepared.ner_input)
            return apply_enrichment(prepared, enrichment), timings
        finally:
            self.pending -= 1

    async def _submit(self, task: Callable[..., _T], *args: Any, url: str | None, attempts: int = 2) -> _T:
        """``task(*args)`` in a pool process; the pool is rebuilt if a process dies, up to ``attempts`` times."""
        loop = asyncio.get_running_loop()
        for attempt in range(1, attempts + 1):
            self.start()
            executor = self._executor
            try:
                return await loop.run_in_executor(executor, task, *args)
            except BrokenProcessPool:
                log.warning("process pool broke (a worker process died); rebuilding it",
                            extra={"url": url, "attempt": attempt})
                self._discard(executor)
        raise ExtractFailed(_DIED_TWICE, attempts=2)

    async def _enrich_batch(self, items: list[NerInput]) -> list[NerOutcome | ExtractFailed]:
        """One NER task for ``items`` (the batcher's ``run_batch``)."""
        if len(items) == 1:
            return await self._submit(_enrich, items, url=None)
        try:
            return await self._submit(_enrich, items, url=None, attempts=1)
        except ExtractFailed:
            pass
        # A process died under this batch: each article alone, one after the other,
        # so only an article that kills a process again is reported as failed.
        outcomes: list[NerOutcome | ExtractFailed] = []
        for item in items:
            try:
                outcomes.extend(await self._submit(_enrich, [item], url=None, attempts=1))
            except ExtractFailed as exc:
                outcomes.append(exc)
        return outcomes

    def _discard(self, broken: ProcessPoolExecutor | None = None) -> None:
        """Drop the executor ``broken`` (if another task has not replaced it already)."""
        if broken is not None and broken is not self._executor:
            return
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _noop() -> None:
    return None

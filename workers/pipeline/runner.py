"""The whole pipeline for one submission, without Kafka: fetch, then the CPU stages in the pool.

Used by the Faust agent and by ``newswire extract`` alike, so both produce the
same record for the same page.  ``observer`` receives (stage, seconds) for
metrics; it is optional so the pipeline stays usable on its own.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from time import perf_counter

from ..errors import ExtractFailed
from ..settings import Settings
from .analyse import AnalyseOptions, PageInput
from .entities import EntityConfig
from .fetch import FetchConfig, Fetcher
from .pool import CpuPool
from .record import ArticleRecord, utc_now_iso
from .submission import Submission
from .urls import canonicalize_url

__all__ = ["ArticlePipeline", "analyse_options", "read_page_file"]

StageObserver = Callable[[str, float], None]


def analyse_options(settings: Settings, *, entities: bool = True) -> AnalyseOptions:
    return AnalyseOptions(
        entities=EntityConfig(
            models=settings.ner_models,
            enabled=entities and settings.entities_enabled,
            max_chars=settings.ner_max_chars,
        )
    )


class ArticlePipeline:
    def __init__(self, settings: Settings, *, entities: bool = True, pool_size: int | None = None,
                 observer: StageObserver | None = None) -> None:
        self.settings = settings
        self.fetcher = Fetcher(FetchConfig.from_settings(settings))
        self.pool = CpuPool(analyse_options(settings, entities=entities),
                            pool_size or settings.effective_pool_size)
        self._observe = observer or (lambda stage, seconds: None)

    async def process(self, submission: Submission) -> ArticleRecord:
        """Fetch and analyse one submission; raises a NewswireError subclass on failure."""
        canonical = canonicalize_url(submission.url)
        started = perf_counter()
        page = await self.fetcher.fetch(canonical)
        self._observe("fetch", perf_counter() - started)
        return await self._analyse(PageInput(
            body=page.body,
            url=submission.url,
            canonical_url=canonical,
            final_url=page.final_url,
            fetched_at=page.fetched_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            http_status=page.status,
            charset=page.charset,
            source=submission.source,
            submitted_at=submission.submitted_at,
            metadata=submission.metadata,
        ))

    async def process_file(self, path: Path) -> ArticleRecord:
        """Analyse a local ``.html`` or ``.html.gz`` file (no fetch)."""
        body = read_page_file(path)
        url = path.resolve().as_uri()
        return await self._analyse(PageInput(body=body, url=url, canonical_url=url, final_url=url,
                                             fetched_at=utc_now_iso()))

    async def _analyse(self, page: PageInput) -> ArticleRecord:
        record, timings = await self.pool.analyse(page)
        for stage, seconds in timings.items():
            self._observe(stage, seconds)
        return record

    async def close(self) -> None:
        await self.fetcher.close()
        self.pool.close()


def read_page_file(path: Path) -> bytes:
    """The bytes of a saved page, ``.html`` or gzipped ``.html.gz``; :class:`ExtractFailed` if unreadable."""
    try:
        body = path.read_bytes()
        return gzip.decompress(body) if path.suffix == ".gz" else body
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ExtractFailed(f"cannot read {path}: {exc}") from None

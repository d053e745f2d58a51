"""The article agents, kept thin: three stages of the pure handler, delivered by workers.delivery.

    URL topic --route--> submissions (by article id) --process--> records (by content hash) --publish--> articles

Each agent only says what to do with one message (a
:class:`~workers.delivery.Stage` calling a :class:`MessageHandler` step);
intake, ordering, commit and shutdown are the delivery layer's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from workers.delivery import EventOutbox, Stage
from workers.observability.metrics import METRICS
from workers.pipeline.runner import ArticlePipeline
from workers.processing.handler import HASHES, SEEN, MessageHandler
from workers.processing.idempotence import submission_id
from workers.settings import Settings

if TYPE_CHECKING:
    from workers.worker.app import Worker

__all__ = ["PipelineHolder", "TableView", "register"]

#: Routing is cheap: concurrency beyond pipelining the writes buys nothing.
ROUTE_IN_FLIGHT = 64
PUBLISH_IN_FLIGHT = 64


class TableView(Mapping[str, Any]):
    """Read access to a raw-bytes Faust table by str key: the read-only mapping the handler expects.

    Values are the table's bytes, or str with ``text_values``; the handler only calls ``get``.
    """

    def __init__(self, table: Any, *, text_values: bool = False) -> None:
        self.table = table
        self.text_values = text_values

    def get(self, key: str, default: Any = None) -> Any:
        value = self.table.data.get(key.encode())
        if value is None:
            return default
        return value.decode() if self.text_values else value

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return (key.decode() for key in self.table.data)

    def __len__(self) -> int:
        return len(self.table.data)


class PipelineHolder:
    """The worker's pipeline, started on first use (its pool warms up off the loop) and closed on shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pipeline: ArticlePipeline | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> ArticlePipeline:
        async with self._lock:
            if self._pipeline is None:
                pipeline = ArticlePipeline(self.settings, observer=METRICS.observe_stage)
                await asyncio.get_running_loop().run_in_executor(None, pipeline.pool.warm_up)
                self._pipeline = pipeline
        return self._pipeline

    @property
    def ready(self) -> bool:
        return self._pipeline is not None and self._pipeline.pool.running

    @property
    def pending(self) -> int | None:
        return self._pipeline.pool.pending if self.ready and self._pipeline is not None else None

    def close(self) -> None:
        # The Fetcher's aiohttp session closes with the loop; the pool's processes must be reaped.
        if self._pipeline is not None:
            self._pipeline.pool.close()


def process_timeout_s(settings: Settings) -> float:
    """Longest a URL may take: every fetch attempt with its backoff, plus the CPU stages."""
    fetch = settings.fetch_max_attempts * (settings.fetch_total_timeout_s + settings.fetch_backoff_max_s)
    return fetch + 120.0


def make_handler(settings: Settings, pipeline: Any) -> MessageHandler:
    return MessageHandler(pipeline, entities_stream=bool(settings.entities_topic),
                          dedupe_window_s=settings.dedupe_window_s, process_timeout_s=process_timeout_s(settings),
                          site_metrics_max=settings.site_metrics_max)


def _headers(event: Any) -> dict[str, bytes]:
    return dict(event.message.headers or ())


def register(worker: Worker) -> PipelineHolder:
    """Declare the three article agents on the worker's app; returns the pipeline they share."""
    settings, app, topics, tables = worker.settings, worker.app, worker.topics, worker.tables
    outputs = topics.by_role()
    pipeline = PipelineHolder(settings)

    @app.task
    async def start_pipeline() -> None:
        await pipeline.get()

    # mode calls a receiver as receiver(sender, *args, signal=signal, **kwargs)
    @app.on_before_shutdown.connect
    def close_pipeline(app_: Any, /, *args: Any, **kwargs: Any) -> None:
        pipeline.close()

    @worker.delivery.agent(topics.input, outputs=outputs, name="newswire.route_urls")
    async def route_urls() -> Stage:
        handler = make_handler(settings, None)

        async def step(event: Any, out: EventOutbox) -> None:
            message = event.message
            await handler.route(message.value, _headers(event),
                                submission_id(message.topic, message.partition, message.offset), out)

        async def refused(event: Any, detail: str, out: EventOutbox) -> None:
            await handler.refused_submission(event.message.value, _headers(event), detail, out)

        return Stage("route", ROUTE_IN_FLIGHT, step, refused)

    @worker.delivery.agent(topics.submissions, outputs=outputs, tables={SEEN: tables.seen},
                           name="newswire.process_submissions")
    async def process_submissions() -> Stage:
        handler = make_handler(settings, await pipeline.get())
        seen = TableView(tables.seen)

        async def step(event: Any, out: EventOutbox) -> None:
            await handler.process(event.message.value, _headers(event), seen, out)

        async def refused(event: Any, detail: str, out: EventOutbox) -> None:
            await handler.refused_submission(event.message.value, _headers(event), detail, out, seen)

        return Stage("process", settings.max_in_flight, step, refused)

    @worker.delivery.agent(topics.records, outputs=outputs, tables={HASHES: tables.hashes},
                           name="newswire.publish_records")
    async def publish_records() -> Stage:
        handler = make_handler(settings, None)
        hashes = TableView(tables.hashes, text_values=True)

        async def step(event: Any, out: EventOutbox) -> None:
            await handler.publish(event.message.value, _headers(event), hashes, out)

        async def refused(event: Any, detail: str, out: EventOutbox) -> None:
            await handler.refused_record(event.message.value, _headers(event), detail, out)

        return Stage("publish", PUBLISH_IN_FLIGHT, step, refused)

    return pipeline

"""Faust wiring, kept thin: the URL agent hands each message to the MessageHandler.

At-least-once: the agent returns from a message only after its outputs were
acknowledged by the broker (``publish`` awaits the delivery future), and Faust
commits an offset only after the event is acknowledged, so a crash between the
two redelivers the message instead of losing it.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.errors import KafkaError

from .app import app, settings, topics
from .handler import MessageHandler
from .metrics import METRICS
from .pipeline.runner import ArticlePipeline

log = logging.getLogger("newswire.agents")

_PUBLISH_BACKOFF_MAX_S = 30.0


class FaustPublisher:
    """Publishes through the app's producer and waits for the broker's ack.

    A broker that is down is waited out (with backoff) rather than turned into a
    dead letter: the message stays unacknowledged until its outputs are written.
    """

    def __init__(self) -> None:
        self._topics = {"articles": topics.articles, "deadletter": topics.deadletter, "entities": topics.entities}

    async def publish(self, role: str, key: bytes, value: bytes, headers: dict[str, bytes]) -> None:
        topic = self._topics[role]
        if topic is None:
            return
        delay = 0.5
        while True:
            try:
                fut = await topic.send(key=key, value=value, headers=list(headers.items()))
                await fut
                return
            except KafkaError as exc:
                if type(exc).__name__ in {"MessageSizeTooLargeError", "RecordTooLargeError"}:
                    raise
                log.warning("publish failed; retrying", extra={"stage": "publish", "error": type(exc).__name__})
                await asyncio.sleep(delay)
                delay = min(delay * 2, _PUBLISH_BACKOFF_MAX_S)


_pipeline: ArticlePipeline | None = None
_pipeline_lock = asyncio.Lock()


async def get_pipeline() -> ArticlePipeline:
    """The worker's pipeline, started on first use (its pool warms up off the loop)."""
    global _pipeline
    async with _pipeline_lock:
        if _pipeline is None:
            pipeline = ArticlePipeline(settings, observer=METRICS.observe_stage)
            await asyncio.get_running_loop().run_in_executor(None, pipeline.pool.warm_up)
            _pipeline = pipeline
    return _pipeline


def pipeline_ready() -> bool:
    return _pipeline is not None and _pipeline.pool.running


@app.task
async def _start_pipeline() -> None:
    await get_pipeline()


@app.agent(topics.input, concurrency=settings.max_in_flight)
async def process_urls(stream) -> None:
    handler = MessageHandler(await get_pipeline(), FaustPublisher(),
                             entities_stream=bool(settings.entities_topic))
    async for event in stream.events():
        headers = dict(event.message.headers or ())
        await handler.handle(event.message.value, headers)


@app.on_before_shutdown.connect
def _close_pipeline(app_, **kwargs) -> None:
    # The Fetcher's aiohttp session closes with the loop; the pool's processes must be reaped.
    if _pipeline is not None:
        _pipeline.pool.close()

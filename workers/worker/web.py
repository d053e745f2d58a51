"""The worker's HTTP endpoints on NEWSWIRE_WEB_PORT: /metrics, /healthz, /readyz.

``/healthz`` answers 200 as long as the process and its event loop are alive
(the response is produced on that loop): a liveness probe.

``/readyz`` answers 200 only when the worker is doing its job: a member of
the consumer group with at least one partition assigned of the URL topic and
of each internal stream its agents read (partitions are only assigned through
a live group membership, so this also says it is connected to Kafka), and the
CPU pool up.  The streams are co-partitioned, so a worker holding URL
partitions but none of a stream's was assigned while that stream's topic did
not exist yet; it would route URLs that nobody in it processes.  Otherwise 503, with the failing
check in the JSON body.  A worker that joined a group with more members than
input partitions is legitimately idle and stays 503: deploy/README.md explains
why that is what a Kubernetes readiness probe of a Kafka worker should say.

:func:`register` also installs the sampled gauges
(:mod:`workers.observability.gauges`), so ``newswire worker`` gets them with the
endpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST

from workers.observability import gauges
from workers.observability.metrics import METRICS, render

if TYPE_CHECKING:
    from workers.worker.agents import PipelineHolder
    from workers.worker.app import Worker

__all__ = ["Readiness", "register"]

# The internal streams of the delivery topology (workers.worker.app.Topics), read by the agents.
_STREAM_ROLES = ("submissions", "records")


class Readiness:
    """Whether this worker is doing its job (see the module docstring)."""

    def __init__(self, worker: Worker, pipeline: PipelineHolder) -> None:
        self.worker = worker
        self.pipeline = pipeline

    def checks(self) -> dict[str, bool]:
        """The readiness checks by name; ready when all are true."""
        assigned = self._assigned_topics()
        return {
            "partitions_assigned": all(topic in assigned for topic in self.stream_topics()),
            "pool_up": self.pipeline.ready,
        }

    def stream_topics(self) -> set[str]:
        """The URL topic and the internal streams: a working member holds partitions of each."""
        names = {self.worker.settings.input_topic}
        for role in _STREAM_ROLES:
            topic = getattr(self.worker.topics, role, None)
            if topic is not None:
                names.add(topic.get_topic_name())
        return names

    def _assigned_topics(self) -> set[str]:
        try:
            return {tp.topic for tp in self.worker.app.consumer.assignment()}
        except Exception:  # consumer not started yet
            return set()

    def assigned_input_partitions(self) -> int:
        try:
            return sum(1 for tp in self.worker.app.consumer.assignment()
                       if tp.topic == self.worker.settings.input_topic)
        except Exception:  # consumer not started yet
            return 0


def register(worker: Worker, pipeline: PipelineHolder) -> Readiness:
    """Add /healthz, /readyz and /metrics to the worker's app, and the sampled gauges."""
    app, settings = worker.app, worker.settings
    readiness = Readiness(worker, pipeline)

    async def pool_depth() -> int | None:
        return pipeline.pending

    gauges.install(app, settings.input_topic, pool_depth=pool_depth)
    METRICS.pool_processes.set(settings.effective_pool_size)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        checks = readiness.checks()
        ready = all(checks.values())
        return web.json({"ready": ready, **checks, "assigned_partitions": readiness.assigned_input_partitions()},
                        status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(render(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return readiness

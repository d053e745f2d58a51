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

Importing this module also installs the sampled gauges
(:mod:`workers.observability`), so ``newswire worker`` gets them with the
endpoints.
"""

from __future__ import annotations

from typing import Optional

from prometheus_client import CONTENT_TYPE_LATEST

from . import observability
from .agents import get_pipeline, pipeline_ready
from .app import app, settings, topics
from .metrics import METRICS, render

__all__ = ["readiness", "assigned_input_partitions", "stream_topics"]

# The internal streams of the delivery topology (workers.app.Topics), read by the agents.
_STREAM_ROLES = ("submissions", "records")


def readiness() -> dict[str, bool]:
    """The readiness checks by name; ready when all are true."""
    assigned = _assigned_topics()
    return {
        "partitions_assigned": all(topic in assigned for topic in stream_topics()),
        "pool_up": pipeline_ready(),
    }


def stream_topics() -> set[str]:
    """The URL topic and the internal streams: a working member holds partitions of each."""
    names = {settings.input_topic}
    for role in _STREAM_ROLES:
        topic = getattr(topics, role, None)
        if topic is not None:
            names.add(topic.get_topic_name())
    return names


def _assigned_topics() -> set[str]:
    try:
        return {tp.topic for tp in app.consumer.assignment()}
    except Exception:  # consumer not started yet
        return set()


def assigned_input_partitions() -> int:
    try:
        return sum(1 for tp in app.consumer.assignment() if tp.topic == settings.input_topic)
    except Exception:  # consumer not started yet
        return 0


async def _pool_depth() -> Optional[int]:
    if not pipeline_ready():
        return None
    return (await get_pipeline()).pool.pending


observability.install(app, settings.input_topic, pool_depth=_pool_depth)
METRICS.pool_processes.set(settings.effective_pool_size)


@app.page("/healthz")
async def healthz(web, request):
    return web.json({"status": "ok"})


@app.page("/readyz")
async def readyz(web, request):
    checks = readiness()
    ready = all(checks.values())
    return web.json({"ready": ready, **checks, "assigned_partitions": assigned_input_partitions()},
                    status=200 if ready else 503)


@app.page("/metrics")
async def metrics(web, request):
    return web.bytes(render(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

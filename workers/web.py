"""The worker's HTTP endpoints on NEWSWIRE_WEB_PORT: /metrics, /healthz, /readyz.

``/healthz`` answers 200 as long as the process and its event loop are alive
(the response is produced on that loop): a liveness probe.

``/readyz`` answers 200 only when the worker is doing its job: a member of
the consumer group with at least one input partition assigned (partitions are
only assigned through a live group membership, so this also says it is
connected to Kafka), and the CPU pool up.  Otherwise 503, with the failing
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
from .app import app, settings
from .metrics import render

__all__ = ["readiness", "assigned_input_partitions"]


def readiness() -> dict[str, bool]:
    """The readiness checks by name; ready when all are true."""
    return {
        "partitions_assigned": assigned_input_partitions() > 0,
        "pool_up": pipeline_ready(),
    }


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

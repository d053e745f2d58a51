"""The worker's HTTP endpoints on NEWSWIRE_WEB_PORT: /metrics, /healthz, /readyz."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST

from .agents import pipeline_ready
from .app import app, settings
from .metrics import render

__all__ = ["readiness"]


def readiness() -> dict[str, bool]:
    """Ready = connected to Kafka with input partitions assigned, and the CPU pool up."""
    return {
        # Partitions are only assigned through a live group membership, so this
        # also says the worker is connected to Kafka.
        "partitions_assigned": _assigned_input_partitions() > 0,
        "pool_up": pipeline_ready(),
    }


def _assigned_input_partitions() -> int:
    try:
        return sum(1 for tp in app.consumer.assignment() if tp.topic == settings.input_topic)
    except Exception:  # consumer not started yet
        return 0


@app.page("/healthz")
async def healthz(web, request):
    return web.json({"status": "ok"})


@app.page("/readyz")
async def readyz(web, request):
    checks = readiness()
    ready = all(checks.values())
    return web.json({"ready": ready, **checks}, status=200 if ready else 503)


@app.page("/metrics")
async def metrics(web, request):
    return web.bytes(render(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

"""The one place that turns settings into Kafka client connection options.

Every component that talks to Kafka (the Faust worker, ``submit``, ``tail``,
the topic admin, the benchmarks and examples) takes its connection options from
here, so security settings are applied the same way everywhere.
"""

from __future__ import annotations

from typing import Any

from .settings import Settings

__all__ = ["aiokafka_options", "faust_broker_urls"]


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer/Consumer/AdminClient."""
    return {"bootstrap_servers": settings.bootstrap_servers}


def faust_broker_urls(settings: Settings) -> list[str]:
    return [f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",") if server.strip()]


def faust_credentials(settings: Settings) -> Any:
    """Faust ``broker_credentials`` (None for a plaintext cluster)."""
    return None

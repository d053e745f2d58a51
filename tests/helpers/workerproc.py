"""Real worker processes for integration tests (see workers.local.run)."""

from workers.local.broker import free_port
from workers.local.run import WorkerProcess

__all__ = ["WorkerProcess", "free_port"]

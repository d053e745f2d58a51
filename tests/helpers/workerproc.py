"""Real worker processes for integration tests (see workers.localrun)."""

from workers.localrun import WorkerProcess, free_port

__all__ = ["WorkerProcess", "free_port"]

"""The ``newswire`` command: one module per command, one exit policy (workers.cli.command)."""

from workers.cli.command import main

__all__ = ["main"]

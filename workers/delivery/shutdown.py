"""A bounded shutdown: in-flight messages get ``shutdown_timeout_s`` to finish, then are handed back.

Faust's stop waits for every message taken from a stream to be acknowledged
before its final commit; unfinished ones are cancelled and released here so
the worker commits what is done and leaves the group.  A backstop thread ends
the process if Faust's own stop is still not done after the timeout plus a
grace period: its stop can wait on the group coordinator with no bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from ..faust_compat import internals
from .runner import StageRunner

__all__ = ["GRACE_S", "bounded_shutdown", "exit_after"]

log = logging.getLogger("newswire.delivery")

GRACE_S = 15.0


async def bounded_shutdown(app: Any, runners: Sequence[StageRunner], timeout_s: float) -> None:
    """Wait for the app to stop, then drain the runners within ``timeout_s`` and release what is left."""
    while not app.should_stop:
        await asyncio.sleep(0.2)
    exit_after(timeout_s + GRACE_S)
    for runner in runners:
        runner.closed = True
    deadline = time.monotonic() + timeout_s
    for runner in runners:
        if not await runner.work.drain(max(0.0, deadline - time.monotonic())):
            cancelled = await runner.work.cancel()
            log.warning("shutdown timeout: in-flight messages handed back",
                        extra={"stage": runner.name, "count": cancelled})
    # Messages not finished stay uncommitted (redelivered to the next owner);
    # forget them so Faust's wait for acknowledgements ends.
    for message in internals.unacked_messages(app):
        if not message.acked:
            internals.forget_unacked(app, message)


def exit_after(seconds: float) -> None:
    """Backstop: end the process if Faust's own shutdown is still not done after ``seconds``.

    What is committed is committed, the rest is redelivered: nothing is lost;
    the group notices the departure after the session timeout.  A thread,
    because the event loop may be the thing that is stuck.
    """
    def exit_now() -> None:
        log.error("shutdown did not finish in time; exiting", extra={"timeout_s": seconds})
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    timer.start()

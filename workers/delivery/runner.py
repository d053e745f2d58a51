"""One agent's loop: guarded intake, bounded concurrent steps, committed in partition order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .committer import Committer
from .intake import GuardedIntake
from .ordering import ErrorHook, OrderedWork, Pipelined
from .outbox import EventOutbox

__all__ = ["Refused", "Stage", "StageRunner", "Step"]

#: One message's work: read the event, write its outputs and table changes into the outbox.
Step = Callable[[Any, EventOutbox], Awaitable[Any]]
#: Writes a message's dead letter when Kafka refuses its outputs as too large: (event, detail, outbox).
Refused = Callable[[Any, str, EventOutbox], Awaitable[Any]]


@dataclass(frozen=True)
class Stage:
    """What an agent does with each message; the delivery layer does everything else."""

    name: str
    limit: int  # messages in flight at once
    step: Step
    refused: Refused | None = None


class StageRunner:
    """Runs a :class:`Stage` over a Faust stream (see workers.delivery for the whole argument)."""

    def __init__(self, stage: Stage, committer: Committer, intake: GuardedIntake, on_error: ErrorHook) -> None:
        self.stage = stage
        self.name = stage.name
        self.committer = committer
        self.intake = intake
        self.work = OrderedWork(stage.limit, on_error=on_error)
        self.closed = False

    async def run(self, stream: Any) -> None:
        self.intake.watch(stream)
        async for event in stream.noack().events():
            self.intake.arrived()
            try:
                if self.closed:
                    continue  # shutting down: leave it unacknowledged, it is handed back
                if await self.intake.admit(event):
                    await self._submit(event)  # waits while the stage is at its in-flight limit
            finally:
                event = None  # do not keep the last message alive
                self.intake.waiting()

    async def _submit(self, event: Any) -> None:
        outbox = EventOutbox()
        stage = self.stage

        async def work() -> EventOutbox:
            await stage.step(event, outbox)
            return outbox

        async def on_refused(detail: str, replacement: EventOutbox) -> None:
            assert stage.refused is not None
            await stage.refused(event, detail, replacement)

        async def finish(box: EventOutbox) -> Pipelined | None:
            return await self.committer.start_commit(event, box, on_refused if stage.refused is not None else None)

        # A message left unacknowledged on purpose must not hold up the next rebalance:
        # Faust's revocation waits for every message taken from the stream.
        await self.work.submit(event.message.partition, event.message.key, work, finish,
                               abandoned=lambda: self.intake.release(event))

"""Delivery guarantees on the real broker with real worker processes (issue 7).

One run per processing guarantee.  Three workers in one group process a batch
of a few hundred URLs served by a local HTTP server (some fail on purpose,
one fails on every attempt, two messages are not URLs at all).  While the
batch is in progress:

1. one worker is killed with SIGKILL and restarted;
2. another gets SIGTERM (graceful: it must exit 0 within its shutdown
   timeout) and is restarted;
3. the broker is stopped for ten seconds and started again.

Then the outputs are read (read_committed) and every submitted item must be
accounted for: exactly once in ``exactly_once`` mode, at least once in
``at_least_once`` mode (duplicates are counted and printed).  Finally the
whole batch is submitted again, and must produce no new article record.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.helpers.reliability import (
    OutputReader,
    WorkerGroup,
    expect_every_item_accounted_for,
    reliability_env,
    resubmit_and_expect_no_new_record,
    serve_batch,
    submit,
)
from workers.local import broker
from workers.local.pages import PageServer

N_GOOD = 240
BROKER_DOWN_S = 10.0


def _fraction(reader: OutputReader, total: int, share: float) -> bool:
    return reader.count >= total * share


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
async def test_every_url_accounted_for_through_crashes_and_outages(kafka_broker, tmp_path, mode):
    bootstrap = kafka_broker.bootstrap
    env = reliability_env(bootstrap, mode)
    with PageServer() as server:
        batch = serve_batch(server, N_GOOD)
        group = WorkerGroup(env, tmp_path, ["w1", "w2", "w3"]).start()
        try:
            await asyncio.to_thread(group.wait_all_ready)
            async with OutputReader(bootstrap, env["NEWSWIRE_ARTICLES_TOPIC"],
                                    env["NEWSWIRE_DEADLETTER_TOPIC"]) as reader:
                await submit(bootstrap, env["NEWSWIRE_INPUT_TOPIC"], batch)
                total = batch.size

                # 1. SIGKILL mid-stream, restart.
                assert await reader.wait_for(lambda r: _fraction(r, total, 0.2), 180), group.logs()
                phases = {"sigkill": time.strftime("%H:%M:%S")}
                group.kill("w1")
                group.restart("w1")

                # 2. SIGTERM mid-stream: graceful exit within the shutdown timeout.
                after_kill = reader.count
                assert await reader.wait_for(lambda r: r.count >= after_kill + total * 0.15, 240), group.logs()
                w2 = group["w2"]
                phases["sigterm"] = time.strftime("%H:%M:%S")
                w2.proc.send_signal(signal.SIGTERM)
                started = time.monotonic()
                code = await asyncio.to_thread(w2.proc.wait, 60)
                graceful_s = time.monotonic() - started
                assert code == 0, w2.log_tail()
                group.restart("w2")

                # 3. Broker down for ten seconds mid-stream.
                after_term = reader.count
                assert await reader.wait_for(lambda r: r.count >= min(after_term + total * 0.15, total * 0.9), 240), \
                    group.logs()
                outage = kafka_broker.dir is not None
                phases["broker_stop"] = time.strftime("%H:%M:%S")
                if outage:
                    await asyncio.to_thread(broker.stop, kafka_broker.dir)
                    try:
                        await asyncio.sleep(BROKER_DOWN_S)
                    finally:
                        await asyncio.to_thread(broker.start, dir=kafka_broker.dir)

                await expect_every_item_accounted_for(reader, batch, group, mode, "batch",
                                                      f"sigterm_exit_s={graceful_s:.1f}", f"broker_outage={outage}",
                                                      f"phases(UTC)={phases}")

                # 4. The whole batch again: no new article record.
                await resubmit_and_expect_no_new_record(reader, bootstrap, env["NEWSWIRE_INPUT_TOPIC"], batch, group,
                                                        mode)
                # Every worker is alive and ready at the end.
                await asyncio.to_thread(group.wait_all_ready, 120)
        finally:
            if kafka_broker.dir is not None:
                broker.start(dir=kafka_broker.dir)  # no-op when it runs; later tests need it
            group.stop()

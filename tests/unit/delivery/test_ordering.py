"""Ordered bounded work without a broker: order per partition, limits, keys, hand-back, cancel."""

from __future__ import annotations

import asyncio

from workers.delivery import ordering as inflight
from workers.delivery.ordering import Abandoned, OrderedWork


async def test_finishes_in_arrival_order_per_partition_while_working_concurrently():
    work = OrderedWork(limit=4)
    finished: list[tuple[int, int]] = []
    running = 0
    peak = 0

    def item(partition: int, n: int, delay: float):
        async def run():
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(delay)
            running -= 1
            return n

        async def finish(result):
            finished.append((partition, result))
        return run, finish

    # Later items of partition 0 complete first; they must still finish after item 0.
    for n, delay in enumerate([0.05, 0.01, 0.0]):
        await work.submit(0, f"k{n}", *item(0, n, delay))
    await work.submit(1, "k", *item(1, 0, 0.0))
    assert await work.drain(5)
    assert [n for p, n in finished if p == 0] == [0, 1, 2]
    assert (1, 0) in finished
    assert peak >= 3  # they did run at the same time


async def test_submit_blocks_at_the_limit():
    work = OrderedWork(limit=2)
    release = asyncio.Event()

    async def slow():
        await release.wait()

    async def finish(_):
        return None

    await work.submit(0, "a", slow, finish)
    await work.submit(1, "b", slow, finish)
    third = asyncio.create_task(work.submit(2, "c", slow, finish))
    await asyncio.sleep(0.05)
    assert not third.done() and work.in_flight == 2
    release.set()
    await asyncio.wait_for(third, 2)
    assert await work.drain(2)
    assert work.peak == 2


async def test_same_key_waits_for_the_earlier_item():
    work = OrderedWork(limit=4)
    order: list[str] = []

    def item(name: str, delay: float):
        async def run():
            order.append(f"start {name}")
            await asyncio.sleep(delay)
            return name

        async def finish(result):
            order.append(f"finish {result}")
        return run, finish

    await work.submit(0, "same", *item("first", 0.05))
    await work.submit(0, "same", *item("second", 0.0))
    assert await work.drain(2)
    assert order == ["start first", "finish first", "start second", "finish second"]


async def test_failed_item_holds_back_the_rest_of_its_partition():
    errors: list[BaseException] = []

    async def on_error(exc):
        errors.append(exc)

    work = OrderedWork(limit=4, on_error=on_error)
    finished: list[int] = []

    async def boom():
        raise RuntimeError("publish failed")

    async def ok():
        return 2

    async def finish(result):
        finished.append(result)

    await work.submit(0, "a", boom, finish)
    await work.submit(0, "b", ok, finish)
    await work.submit(1, "c", ok, finish)
    await work.drain(2)
    # Partition 0 must not acknowledge past the failed message; partition 1 is unaffected.
    assert finished == [2]
    assert len(errors) == 1


async def test_handed_back_item_stops_its_partition_quietly():
    errors: list[BaseException] = []

    async def on_error(exc):
        errors.append(exc)

    work = OrderedWork(limit=4, on_error=on_error)
    finished: list[str] = []

    async def run():
        return "x"

    async def hand_back(_):
        raise Abandoned()

    async def finish(result):
        finished.append(result)

    await work.submit(0, "a", run, hand_back)
    await work.submit(0, "b", run, finish)
    await work.drain(2)
    assert finished == [] and errors == []  # nothing acknowledged past it, no crash


async def test_handed_back_and_abandoned_items_are_reported_so_a_rebalance_does_not_wait_for_them():
    work = OrderedWork(limit=4)
    released: list[str] = []
    finished: list[str] = []

    async def run():
        return "x"

    async def hand_back(_):
        raise Abandoned()

    async def finish(result):
        finished.append(result)

    await work.submit(0, "a", run, hand_back, abandoned=lambda: released.append("a"))
    await work.submit(0, "b", run, finish, abandoned=lambda: released.append("b"))  # after a hand-back
    await work.submit(1, "c", run, finish, abandoned=lambda: released.append("c"))  # another partition
    await work.drain(2)
    assert sorted(released) == ["a", "b"] and finished == ["x"]


async def test_cancel_hands_back_unfinished_items():
    work = OrderedWork(limit=2)
    finished = []

    async def forever():
        await asyncio.sleep(3600)

    async def finish(result):
        finished.append(result)

    await work.submit(0, "a", forever, finish)
    assert not await work.drain(0.05)
    assert await work.cancel() == 1
    assert finished == [] and work.in_flight == 0


class FakeDelivery:
    """A pipelined finish: its writes are sent; the test decides when the broker confirms them."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.confirmed = asyncio.get_running_loop().create_future()

    async def delivered(self) -> None:
        await self.confirmed
        self.log.append(f"delivered {self.name}")

    def complete(self) -> None:
        self.log.append(f"ack {self.name}")


async def test_pipelined_writes_start_without_waiting_for_the_previous_delivery_and_acknowledge_in_order():
    work = OrderedWork(limit=4)
    log: list[str] = []
    deliveries: dict[str, FakeDelivery] = {}

    def item(name: str):
        async def run():
            return name

        async def finish(result):
            log.append(f"send {result}")
            deliveries[result] = FakeDelivery(result, log)
            return deliveries[result]
        return run, finish

    for name in ("a", "b", "c"):
        await work.submit(0, name, *item(name))
    for _ in range(10):
        await asyncio.sleep(0)
    # Every write is on its way though nothing is confirmed yet (one round trip, not three).
    assert log == ["send a", "send b", "send c"]
    deliveries["c"].confirmed.set_result(None)
    deliveries["b"].confirmed.set_result(None)
    for _ in range(10):
        await asyncio.sleep(0)
    assert "ack b" not in log and "ack c" not in log  # not acknowledged past the unconfirmed a
    deliveries["a"].confirmed.set_result(None)
    assert await work.drain(1)
    assert [entry for entry in log if entry.startswith("ack")] == ["ack a", "ack b", "ack c"]


async def test_an_item_waiting_only_for_the_broker_gives_its_slot_to_the_next_message():
    work = OrderedWork(limit=1)
    log: list[str] = []
    deliveries: list[FakeDelivery] = []

    async def run():
        return "x"

    async def finish(_):
        deliveries.append(FakeDelivery(str(len(deliveries)), log))
        return deliveries[-1]

    # Limit 1: the second and later messages are taken while the first waits for its acknowledgement...
    for n in range(inflight.AWAITING_PER_SLOT + 1):
        await asyncio.wait_for(work.submit(0, f"k{n}", run, finish), 1)
    for _ in range(10):
        await asyncio.sleep(0)
    # ...but no more than AWAITING_PER_SLOT per slot wait for the broker: the next one waits.
    blocked = asyncio.create_task(work.submit(0, "last", run, finish))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not blocked.done() and len(deliveries) == inflight.AWAITING_PER_SLOT + 1
    for delivery in deliveries:
        delivery.confirmed.set_result(None)
    await asyncio.wait_for(blocked, 1)
    for _ in range(10):
        await asyncio.sleep(0)
    assert len(deliveries) == inflight.AWAITING_PER_SLOT + 2
    deliveries[-1].confirmed.set_result(None)
    assert await work.drain(1)
    assert [entry for entry in log if entry.startswith("ack")] == [f"ack {n}" for n in range(len(deliveries))]


async def test_a_pipelined_item_after_one_handed_back_is_not_acknowledged():
    work = OrderedWork(limit=4)
    log: list[str] = []
    released: list[str] = []

    class HandedBackDelivery(FakeDelivery):
        async def delivered(self) -> None:
            raise Abandoned()

    async def run():
        return "x"

    async def finish_first(_):
        log.append("send a")
        return HandedBackDelivery("a", log)

    async def finish_second(_):
        log.append("send b")
        delivery = FakeDelivery("b", log)
        delivery.confirmed.set_result(None)
        return delivery

    await work.submit(0, "a", run, finish_first, abandoned=lambda: released.append("a"))
    await work.submit(0, "b", run, finish_second, abandoned=lambda: released.append("b"))
    assert await work.drain(1)
    # b's outputs were sent (a duplicate when it comes again: at_least_once), but it is not acknowledged.
    assert "ack b" not in log and "ack a" not in log
    assert sorted(released) == ["a", "b"]


async def test_the_same_key_waits_for_the_previous_item_to_be_acknowledged_not_only_sent():
    work = OrderedWork(limit=4)
    log: list[str] = []
    first = None

    async def run_first():
        return "a"

    async def finish_first(_):
        nonlocal first
        log.append("send a")
        first = FakeDelivery("a", log)
        return first

    async def run_second():
        log.append("start b")  # reads the state a leaves: only after a is acknowledged
        return "b"

    async def finish_second(_):
        return None

    await work.submit(0, "same", run_first, finish_first)
    await work.submit(0, "same", run_second, finish_second)
    for _ in range(10):
        await asyncio.sleep(0)
    assert log == ["send a"]
    first.confirmed.set_result(None)
    assert await work.drain(1)
    assert log == ["send a", "delivered a", "ack a", "start b"]

"""Ordered bounded work without a broker: order per partition, limits, keys, hand-back, cancel."""

from __future__ import annotations

import asyncio

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

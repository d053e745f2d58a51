"""MicroBatcher: batches form, a lone item is not held, failures stay per item, results go to their waiters."""

from __future__ import annotations

import asyncio

import pytest

from workers.pipeline.batcher import MicroBatcher

# Generous: only a batcher that waits for items that never come runs into it.
NOT_HELD_S = 5.0


class Recorder:
    """A run_batch that records its batches and can be held open."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        await self.release.wait()
        return [ValueError(f"bad {item}") if item < 0 else item * 10 for item in items]


async def test_items_submitted_together_form_one_batch_in_arrival_order():
    run = Recorder()
    batcher = MicroBatcher(run, max_size=8, max_wait_s=0.05, max_in_flight=2)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert run.batches == [[0, 1, 2, 3, 4]]
    assert results == [0, 10, 20, 30, 40]


async def test_a_full_batch_goes_without_waiting_for_the_timer():
    run = Recorder()
    batcher = MicroBatcher(run, max_size=3, max_wait_s=3600, max_in_flight=4)
    # With an hour's timer, only the size limit can send these.
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(6))), NOT_HELD_S)
    assert results == [i * 10 for i in range(6)]
    assert run.batches == [[0, 1, 2], [3, 4, 5]]


async def test_a_lone_item_is_sent_after_max_wait_not_held_for_batch_mates():
    run = Recorder()
    batcher = MicroBatcher(run, max_size=8, max_wait_s=0.002, max_in_flight=2)
    assert await asyncio.wait_for(batcher.submit(7), NOT_HELD_S) == 70
    assert run.batches == [[7]]


async def test_one_failing_item_fails_alone_and_its_batch_mates_get_their_results():
    run = Recorder()
    batcher = MicroBatcher(run, max_size=8, max_wait_s=0.01, max_in_flight=1)
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in (1, -2, 3)), return_exceptions=True)
    assert run.batches == [[1, -2, 3]]
    assert outcomes[0] == 10 and outcomes[2] == 30
    assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == "bad -2"


async def test_results_reach_their_own_waiters_across_batches():
    run = Recorder()
    batcher = MicroBatcher(run, max_size=4, max_wait_s=0.001, max_in_flight=2)

    async def late(item: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return await batcher.submit(item)

    items = list(range(23))
    results = await asyncio.gather(*(late(i, (i % 5) * 0.003) for i in items))
    assert results == [i * 10 for i in items]
    assert all(len(batch) <= 4 for batch in run.batches)
    assert sorted(i for batch in run.batches for i in batch) == items
    assert batcher.items_sent == 23 and batcher.batches_sent == len(run.batches) > 1


async def test_arrivals_gather_into_the_next_batch_while_every_slot_is_busy():
    run = Recorder()
    run.release.clear()
    batcher = MicroBatcher(run, max_size=8, max_wait_s=0.001, max_in_flight=1)
    first = asyncio.ensure_future(batcher.submit(0))
    while not run.batches:  # the first batch is running and holds the only slot
        await asyncio.sleep(0.001)
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0.02)  # well past max_wait: still no slot, so nothing more is sent
    assert run.batches == [[0]] and batcher.waiting == 5
    run.release.set()
    assert await asyncio.wait_for(asyncio.gather(first, *rest), NOT_HELD_S) == [0, 10, 20, 30, 40, 50]
    assert run.batches == [[0], [1, 2, 3, 4, 5]]


async def test_a_batch_call_that_raises_fails_its_items_only():
    calls = 0

    async def flaky(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("pool gone")
        return [item + 1 for item in items]

    batcher = MicroBatcher(flaky, max_size=2, max_wait_s=0.001, max_in_flight=1)
    first = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(outcome, RuntimeError) for outcome in first)
    assert await batcher.submit(3) == 4  # the batcher still works
    assert batcher.in_flight == 0 and batcher.waiting == 0


async def test_a_wrong_number_of_outcomes_is_an_error_for_the_batch_not_a_hang():
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    batcher = MicroBatcher(short, max_size=2, max_wait_s=0.001, max_in_flight=1)
    outcomes = await asyncio.wait_for(asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True),
                                      NOT_HELD_S)
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)


async def test_a_cancelled_waiter_does_not_disturb_its_batch_mates():
    run = Recorder()
    run.release.clear()
    batcher = MicroBatcher(run, max_size=8, max_wait_s=0.001, max_in_flight=1)
    keep, drop = asyncio.ensure_future(batcher.submit(1)), asyncio.ensure_future(batcher.submit(2))
    while not run.batches:
        await asyncio.sleep(0.001)
    drop.cancel()
    run.release.set()
    assert await asyncio.wait_for(keep, NOT_HELD_S) == 10
    assert drop.cancelled()


def test_nonsense_limits_are_refused():
    async def run(items: list[int]) -> list[int]:
        return items

    with pytest.raises(ValueError):
        MicroBatcher(run, max_size=0, max_wait_s=0.001, max_in_flight=1)
    with pytest.raises(ValueError):
        MicroBatcher(run, max_size=1, max_wait_s=0.001, max_in_flight=0)

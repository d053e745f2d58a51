"""The delivery guard: holes are read again, offsets passed over on purpose are not."""

from __future__ import annotations

from workers.delivery.continuity import Deliver, DeliveryGuard, Discard, PassedOver, Reread

TP = ("topic", 0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def timed_guard() -> tuple[DeliveryGuard, Clock]:
    """A guard with a 5 s re-read timeout on a clock the test moves, at offset 30 of TP."""
    clock = Clock()
    guard = DeliveryGuard(PassedOver(), reread_timeout_s=5.0, clock=clock)
    guard.check(TP, 30, 1)
    return guard, clock


def deliver_all(guard: DeliveryGuard, offsets, generation: int = 1) -> list:
    return [guard.check(TP, offset, generation) for offset in offsets]


def test_consecutive_offsets_are_delivered_without_gaps():
    guard = DeliveryGuard(PassedOver())
    assert deliver_all(guard, range(5, 9)) == [Deliver()] * 4


def test_a_jump_over_offsets_the_client_passed_over_is_a_gap_not_a_hole():
    passed = PassedOver()
    guard = DeliveryGuard(passed)
    assert guard.check(TP, 10, 1) == Deliver()
    passed.add(TP, 11, 12)  # a commit marker
    assert guard.check(TP, 12, 1) == Deliver(gap=(11, 12))
    assert guard.rereads == 0


def test_a_jump_over_undelivered_messages_reads_the_partition_again_from_the_hole():
    passed = PassedOver()
    guard = DeliveryGuard(passed)
    deliver_all(guard, range(25, 31))
    assert guard.check(TP, 40, 1) == Reread(31)
    # Messages fetched before the seek took effect are discarded: they come again.
    assert guard.check(TP, 41, 1) == Discard()
    assert guard.check(TP, 42, 1) == Discard()
    # After the seek: the hole first, then everything after it, in order.
    assert deliver_all(guard, range(31, 44)) == [Deliver()] * 13
    assert guard.rereads == 1


def test_a_hole_after_a_passed_over_range_is_read_again_from_its_first_missing_offset():
    passed = PassedOver()
    guard = DeliveryGuard(passed)
    guard.check(TP, 10, 1)
    passed.add(TP, 11, 12)
    assert guard.check(TP, 15, 1) == Reread(12)


def test_the_same_jump_after_the_reread_means_unreadable_offsets_and_delivers_with_a_gap():
    guard = DeliveryGuard(PassedOver())
    guard.check(TP, 30, 1)
    assert guard.check(TP, 40, 1) == Reread(31)
    verdict = guard.check(TP, 40, 1)  # read again from 31, and 40 is still the first message
    assert verdict == Deliver(gap=(31, 40), unreadable=True)
    assert guard.check(TP, 41, 1) == Deliver()


def test_a_reread_that_does_not_take_effect_is_asked_for_again():
    guard, clock = timed_guard()
    assert guard.check(TP, 40, 1) == Reread(31)
    assert guard.check(TP, 41, 1) == Discard()
    clock.now = 6.0
    assert guard.check(TP, 42, 1) == Reread(31)
    assert guard.rereads == 2


def test_offsets_already_handed_over_in_a_generation_are_not_taken_again():
    guard = DeliveryGuard(PassedOver())
    deliver_all(guard, range(0, 20))
    # Faust sought back to the committed offset within the generation: these are
    # done or in flight already.
    assert guard.check(TP, 12, 1) == Discard()
    assert guard.check(TP, 19, 1) == Discard()
    assert guard.check(TP, 20, 1) == Deliver()
    # A new generation starts over: the partition may have moved on elsewhere meanwhile.
    assert guard.check(TP, 90, 2) == Deliver()
    assert guard.rereads == 0


def test_partitions_are_independent():
    guard = DeliveryGuard(PassedOver())
    guard.check(("topic", 0), 5, 1)
    assert guard.check(("topic", 1), 50, 1) == Deliver()
    assert guard.check(("topic", 0), 6, 1) == Deliver()


def test_passed_over_ranges_cover_exactly_their_offsets_and_are_forgotten_behind_the_reader():
    passed = PassedOver()
    passed.add(TP, 3, 5)
    passed.add(TP, 5, 6)
    passed.add(TP, 8, 9)
    assert passed.first_unexplained(TP, 3, 6) is None
    assert passed.first_unexplained(TP, 3, 7) == 6
    assert passed.first_unexplained(TP, 2, 4) == 2
    assert passed.first_unexplained(TP, 8, 9) is None
    assert passed.first_unexplained(("other", 0), 3, 4) == 3
    passed.forget_below(TP, 7)
    assert passed.first_unexplained(TP, 3, 4) == 3
    assert passed.first_unexplained(TP, 8, 9) is None


def test_passed_over_keeps_a_bounded_number_of_ranges():
    passed = PassedOver(max_ranges=3)
    for start in range(0, 10, 2):
        passed.add(TP, start, start + 1)
    assert passed.first_unexplained(TP, 0, 1) == 0       # the oldest went
    assert passed.first_unexplained(TP, 8, 9) is None


def test_a_generation_begins_at_the_committed_offset():
    passed = PassedOver()
    guard = DeliveryGuard(passed)
    assert guard.needs_begin(TP, 4)
    guard.begin(TP, 4, start=20)
    assert not guard.needs_begin(TP, 4)
    assert guard.check(TP, 19, 4) == Discard()      # read before the seek: already committed
    assert guard.check(TP, 23, 4) == Reread(20)     # the first messages were lost
    assert guard.check(TP, 20, 4) == Deliver()
    guard.begin(TP, 5, start=30)
    passed.add(TP, 30, 31)                          # a commit marker at the committed offset
    assert guard.check(TP, 31, 5) == Deliver(gap=(30, 31))


def test_without_a_known_start_the_first_message_is_taken_as_it_comes():
    guard = DeliveryGuard(PassedOver())
    guard.begin(TP, 1, start=None)
    assert guard.check(TP, 57, 1) == Deliver()
    assert guard.check(TP, 58, 1) == Deliver()


def test_overdue_rereads_are_reported_once_per_timeout_even_without_messages():
    guard, clock = timed_guard()
    assert guard.check(TP, 40, 1) == Reread(31)
    assert guard.overdue_rereads(1) == []
    clock.now = 6.0
    assert guard.overdue_rereads(1) == [(TP, 31)]
    assert guard.overdue_rereads(1) == []  # timed from now again
    assert guard.check(TP, 31, 1) == Deliver()
    clock.now = 20.0
    assert guard.overdue_rereads(1) == []


def test_a_reread_of_an_earlier_generation_is_dropped():
    guard, clock = timed_guard()
    assert guard.check(TP, 40, 1) == Reread(31)
    clock.now = 6.0
    assert guard.overdue_rereads(2) == []  # a rebalance came: Faust sought to the committed offset
    assert guard.overdue_rereads(1) == []


def test_a_partition_whose_next_messages_never_arrive_is_read_again_from_the_expected_offset():
    passed = PassedOver()
    guard = DeliveryGuard(passed)
    deliver_all(guard, range(33, 38))
    assert guard.waiting_for(TP, 1, end=38) is None          # all delivered
    assert guard.waiting_for(TP, 1, end=41) == 38            # 38..40 exist and never came
    assert guard.waiting_for(TP, 2, end=41) is None          # another generation: Faust seeks itself
    passed.add(TP, 38, 39)                                   # a commit marker after the last message
    assert guard.waiting_for(TP, 1, end=39) is None
    assert guard.waiting_for(TP, 1, end=41) == 39
    assert guard.check(TP, 45, 1) == Reread(39)
    assert guard.waiting_for(TP, 1, end=50) is None          # the re-read has its own timeout

from flowsim import ManualClock


def test_manual_clock_fires_due_timers_in_time_then_creation_order() -> None:
    clock = ManualClock()
    fired: list[tuple[str, float]] = []
    clock.call_at(2.0, lambda: fired.append(("b", clock.now())))
    clock.call_at(1.0, lambda: fired.append(("a", clock.now())))
    clock.call_at(2.0, lambda: fired.append(("c", clock.now())))
    cancelled = clock.call_at(1.5, lambda: fired.append(("x", clock.now())))
    cancelled.cancel()
    clock.advance(1.99)
    assert fired == [("a", 1.0)]
    clock.advance(0.01)
    assert fired == [("a", 1.0), ("b", 2.0), ("c", 2.0)]
    assert clock.now() == 2.0 and clock.pending() == []


def test_timers_scheduled_by_timers_fire_within_the_same_advance() -> None:
    clock = ManualClock()
    fired: list[float] = []
    clock.call_at(1.0, lambda: clock.call_at(1.5, lambda: fired.append(clock.now())))
    clock.advance(2)
    assert fired == [1.5]

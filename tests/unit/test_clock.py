import asyncio
import threading
import time

from flowsim import ManualClock
from flowsim.clock import SystemClock


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


def _debug_loop_thread() -> tuple[asyncio.AbstractEventLoop, threading.Thread, list[object]]:
    """An event loop in debug mode (which raises for a timer set from another thread),
    running on a thread of its own, as a sync test's worker loop does."""
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    errors: list[object] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    return loop, thread, errors


def _stopped(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def test_a_system_clock_timer_set_from_another_thread_fires_on_the_loop() -> None:
    loop, thread, errors = _debug_loop_thread()
    clock = SystemClock()
    clock.attach(loop, thread.ident)
    fired: list[tuple[int | None, float]] = []
    done = threading.Event()

    def record() -> None:
        fired.append((threading.get_ident(), clock.now()))
        done.set()

    try:
        due = clock.now() + 0.05
        clock.call_at(due, record)  # from this thread: asyncio's call_later would raise
        assert done.wait(5), "the timer never fired"
    finally:
        _stopped(loop, thread)
    ((where, when),) = fired
    assert where == thread.ident and when >= due
    assert errors == []


def test_a_system_clock_timer_cancelled_from_another_thread_never_fires() -> None:
    loop, thread, errors = _debug_loop_thread()
    clock = SystemClock()
    clock.attach(loop, thread.ident)
    fired: list[str] = []
    try:
        soon = clock.call_at(clock.now() + 0.1, lambda: fired.append("soon"))
        soon.cancel()  # most likely before it is armed on the loop
        armed = clock.call_at(clock.now() + 0.1, lambda: fired.append("armed"))
        time.sleep(0.05)  # armed on the loop by now, not yet due
        armed.cancel()
        time.sleep(0.3)
    finally:
        _stopped(loop, thread)
    assert fired == [] and errors == []

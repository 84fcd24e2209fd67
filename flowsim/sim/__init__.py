"""Virtual time for the real engine and the users' real task code.

Groundwork for the simulator: an asyncio event loop whose clock is virtual and jumps to
the next timer whenever nothing is ready, so ``await asyncio.sleep(3600)`` inside a task
takes no wall time, and the engine's own timers (retries, timeouts) ride the same heap.
"""

from flowsim.sim.loop import (
    LoopClock,
    SimulationStalledError,
    VirtualTimeLoop,
    run_virtual,
    virtual_backend,
)

__all__ = [
    "LoopClock",
    "SimulationStalledError",
    "VirtualTimeLoop",
    "run_virtual",
    "virtual_backend",
]

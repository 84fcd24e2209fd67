"""The engine: runs workflow definitions on workers with slots, per Hatchet's rules."""

from flowsim.engine.deadlock import DeadlockReport
from flowsim.engine.engine import Engine

__all__ = ["DeadlockReport", "Engine"]

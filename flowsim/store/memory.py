"""The in-memory store: the default backend and the reference the SQL stores are held to.

Every transition goes through ``flowsim.rules``; the store only decides *where* things are
kept (``flowsim.store.memory_core``) and puts together the parts that deal with
concurrency, conditions, durable tasks and time. It is not thread-safe by itself: the
engine serialises calls under its lock, which keeps each call inline and cheap (no thread
hops).
"""

from __future__ import annotations

from flowsim.store.memory_concurrency import ConcurrencyPart
from flowsim.store.memory_conditions import ConditionsPart
from flowsim.store.memory_durable import DurablePart
from flowsim.store.memory_timing import TimingPart


class MemoryStore(ConcurrencyPart, ConditionsPart, DurablePart, TimingPart):
    """Runs and their task runs in this process's memory (see the module docstring)."""

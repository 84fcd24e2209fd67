"""``EvictionPolicy``: when a waiting durable task may give up its slot (hatchet_sdk's
model, field for field: ``ttl``, ``allow_capacity_eviction``, ``priority``).

``None`` as a durable task's policy means it is never evicted. The default is
hatchet_sdk's: evicted after 15 minutes of uninterrupted waiting, or earlier when every
durable slot of its worker is held by a waiting run (see ``flowsim.engine.eviction``).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from flowsim.engine.eviction import EvictionRule


class EvictionPolicy(BaseModel):
    """Task-scoped eviction parameters of a durable task."""

    model_config = ConfigDict(frozen=True)

    #: the longest uninterrupted wait before the task is evicted (None: no TTL eviction)
    ttl: timedelta | None
    #: whether it may be evicted when every durable slot of its worker waits
    allow_capacity_eviction: bool = True
    #: lower values are evicted first
    priority: int = 0

    def rule(self) -> EvictionRule:
        ttl = None if self.ttl is None else self.ttl.total_seconds()
        return EvictionRule(ttl, self.allow_capacity_eviction, self.priority)


#: hatchet_sdk's default for ``durable_task(eviction_policy=...)``
DEFAULT_DURABLE_TASK_EVICTION_POLICY = EvictionPolicy(
    ttl=timedelta(minutes=15), allow_capacity_eviction=True, priority=0
)

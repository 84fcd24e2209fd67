"""A worker whose one task reports how the process runs Python's garbage collector, so a
test can see the policy ``flowsim worker`` sets from inside a real worker process."""

import gc
from typing import Any

from flowsim import Context, EmptyModel, Hatchet

hatchet = Hatchet()


@hatchet.task(name="gc-state")
def gc_state(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"frozen": gc.get_freeze_count(), "thresholds": list(gc.get_threshold())}


worker = hatchet.worker("gc-worker", slots=1, workflows=[gc_state])

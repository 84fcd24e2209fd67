"""How a worker process batches its writes to a durable store.

Writing each finished child as its own transaction caps a worker near one commit per
completion (~4 ms and ~8 round trips on Postgres: 250 completions a second). The durable
engine instead buffers the completions of one event-loop turn, up to ``limit``, and writes
them with one ``complete_many``: attempts that finish together (a fan-out's children run
eagerly, one after another, in one turn) share a transaction, and a lone completion is
written on the next turn, so nothing waits on a timer.

Claims are capped the same way from the other side: a worker that claimed every free slot
(1,000 by default) would take a whole backlog in one transaction while the other worker
processes idle. ``claim_batch`` bounds one claim; a full claim asks for another dispatch
on the next turn, so a worker still fills its slots, a batch at a time, taking turns with
the others through SKIP LOCKED (Postgres) or the write lock (SQLite).
"""

from __future__ import annotations

import os

from flowsim.errors import ConfigurationError
from flowsim.store.protocol import Completion

#: completions written together at most (a larger backlog is written in several batches)
DEFAULT_COMPLETION_BATCH = 500
#: task runs one claim takes at most, whatever the free slots: small enough that two
#: processes share a backlog of 1,000 (a bulk trigger's batch), large enough that a
#: claim's fixed cost is spread (Postgres, 10,000 children: ~6,400/s at 100, ~7,900/s
#: at 300 in an early version; later, 6 alternated runs each: 500 +5.1% over 300, 700
#: -3% under 500; SQLite 500 against 300 within the spread, +1% at the median)
DEFAULT_CLAIM_BATCH = 500
CLAIM_BATCH_VARIABLE = "FLOWSIM_CLAIM_BATCH"


def claim_batch_from_environment() -> int:
    """``$FLOWSIM_CLAIM_BATCH`` (a positive integer) or the default."""
    raw = os.environ.get(CLAIM_BATCH_VARIABLE)
    if raw is None or not raw.strip():
        return DEFAULT_CLAIM_BATCH
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(
            f"${CLAIM_BATCH_VARIABLE}={raw!r} is not a positive integer: set it to the most "
            f"task runs one claim may take (default {DEFAULT_CLAIM_BATCH}), or unset it"
        )
    return value


class CompletionBuffer:
    """Completions not yet written, in the order the attempts finished."""

    def __init__(self, limit: int = DEFAULT_COMPLETION_BATCH) -> None:
        self.limit = limit
        self._items: list[Completion] = []
        #: whether a flush is already posted to the engine loop
        self.flush_posted = False

    def add(self, item: Completion) -> bool:
        """Buffer ``item``; True when the buffer is full and should be written now."""
        self._items.append(item)
        return len(self._items) >= self.limit

    def take(self) -> list[Completion]:
        items, self._items = self._items, []
        return items

    def __len__(self) -> int:
        return len(self._items)

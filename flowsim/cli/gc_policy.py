"""How a ``flowsim worker`` process runs Python's cyclic garbage collector.

The process is ours (the user's code is a module it imports), so it may set a policy a
library could not. With CPython's defaults, a parent fanning out 10,000 children on a
SQLite file spent 150 ms of its worker's 0.65 CPU-seconds in three full collections
(38, 50 and 62 ms), each scanning every object the imports had made as well as the run
objects alive at the time; the first came before the first batch of children was
written, while the other worker idled. Frozen after start-up, the imported objects are
never scanned again, and a first generation of 50,000 allocations rather than 700 lets a
batch of a thousand runs be built without a collection in the middle: the same fan-out
then made one full collection (22 ms) and wrote its first batch 40 ms sooner.

Only cycles wait longer to be freed; everything else is freed by reference counting, as
before. A frozen object that later becomes part of a garbage cycle is never freed: what
exists once the worker is loaded (modules, definitions, the store) lives as long as the
process anyway.
"""

from __future__ import annotations

import gc

#: allocations between young collections (CPython's default is 700)
YOUNG_THRESHOLD = 50_000
#: young collections per middle one, middle ones per full one (CPython's are 10 and 10)
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 10


def serve_with_frozen_startup() -> None:
    """Collect once, freeze what survives (modules, the worker, its workflows), and raise
    the young generation's threshold; called once everything is imported and opened."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)

"""How long a waiter pauses before re-reading the store (``SharedReads.read_delay``)."""

import time
from collections.abc import Sequence

from flowsim.engine.shared_reads import SharedReads
from flowsim.store.protocol import Completion, RunProgress, RunView
from flowsim.store.reference import ReferenceStore
from flowsim.testing.contract import claim_all, run_request, single_spec

#: what reading one run costs in ``SlowReads`` (seconds)
PER_RUN = 0.0002


class SlowReads(ReferenceStore):
    """The reference store, taking ``PER_RUN`` seconds per run it reads: a read's cost
    grows with its size, as a database's does."""

    def get_runs(self, run_ids: Sequence[str], *, attempts: bool = True) -> list[RunView]:
        time.sleep(PER_RUN * len(run_ids))
        return super().get_runs(run_ids, attempts=attempts)

    def get_progress(self, run_ids: Sequence[str]) -> list[RunProgress]:
        time.sleep(PER_RUN * len(run_ids))
        return super().get_progress(run_ids)


def _awaiting(total: int) -> tuple[SlowReads, SharedReads, list[str]]:
    store = SlowReads()
    reads = SharedReads(store, lambda: 1, period_seconds=1.0)
    reads.start_cursor()
    views = store.create_runs([run_request(single_spec()) for _ in range(total)], 0.0)
    reads.seed(views)
    run_ids = [view.id for view in views]
    reads.watch(run_ids)
    return store, reads, run_ids


def _finish(store: SlowReads, count: int) -> None:
    claims = claim_all(store, ["single"], 0.0, free=count)
    store.complete_many([Completion(c.task_run_id, c.token, None) for c in claims], 0.0)


def test_a_waiter_with_few_runs_left_rereads_without_the_pause_of_a_large_read() -> None:
    store, reads, run_ids = _awaiting(300)
    _finish(store, 295)
    reads.first_views(run_ids, seen=1)  # reads the 295 that ended: ~60 ms
    # the 5 still awaited would take ~1 ms to read; the last read took ~60
    assert reads.read_delay(pending=5) < 295 * PER_RUN / 4


def test_a_waiter_with_many_runs_left_pauses_as_long_as_the_last_read_took() -> None:
    store, reads, run_ids = _awaiting(300)
    _finish(store, 100)
    started = time.monotonic()
    reads.first_views(run_ids, seen=1)  # reads the 100 that ended: ~20 ms
    took = time.monotonic() - started
    # 200 still awaited would take longer than that read did: the pause is that read's
    assert 100 * PER_RUN * 0.5 < reads.read_delay(pending=200) <= took

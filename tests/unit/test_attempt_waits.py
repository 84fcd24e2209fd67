"""What an attempt waits on, as the snapshot's deadlock analysis must see it."""

from collections import Counter

from flowsim.engine.attempt_waits import AttemptWaits, release
from flowsim.store.reference import ReferenceStore
from flowsim.testing.contract import claim_all, run_request, single_spec


def test_release_keeps_a_run_another_wait_is_still_on_and_ignores_unknown_ids() -> None:
    counts = Counter({"a": 2, "b": 1, "c": 1})
    release(counts, ["a", "b", "zzz"])
    assert counts == Counter({"a": 1, "c": 1})
    release(counts, ["a", "c"])
    assert counts == Counter()


def test_two_waits_on_one_holder_are_both_shown_until_each_ends() -> None:
    store = ReferenceStore()
    store.create_runs([run_request(single_spec())], 0.0)
    (holder,) = claim_all(store, ["single"], 0.0)
    one, two = (view.id for view in store.create_runs([run_request(single_spec())] * 2, 1.0))
    waits = AttemptWaits(store)
    waits.add(holder.task_run_id, [one])
    waits.add(holder.task_run_id, [two, one])
    waits.flush()
    assert _waiting_on(store, holder.task_run_id) == {one, two}
    waits.remove(holder.task_run_id, [two, one])
    waits.flush()
    assert _waiting_on(store, holder.task_run_id) == {one}
    waits.remove(holder.task_run_id, [one])  # the last: written at once
    assert _waiting_on(store, holder.task_run_id) == set()


def _waiting_on(store: ReferenceStore, task_run_id: str) -> set[str]:
    snapshot = store.snapshot(0.0, [])
    return {
        run_id
        for holder in snapshot.held
        if holder.task_run_id == task_run_id
        for run_id in holder.waiting_on
    }

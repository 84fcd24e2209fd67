"""``flowsim.engine.run_replay``: what a replay of some ids re-runs, read off stored views
(the reference store's), without an engine."""

from collections.abc import Sequence

import pytest

from flowsim.engine.run_replay import replay_targets
from flowsim.errors import InvalidInputError, RunNotFoundError, UnsupportedFeatureError
from flowsim.rules import RunStatus
from flowsim.store.protocol import RunView
from flowsim.store.records import WorkflowSpec
from flowsim.store.reference import ReferenceStore
from flowsim.testing.contract import claim_all, create_run, diamond_spec, task_error


def _diamond(failing: str | None = None) -> tuple[ReferenceStore, RunView]:
    """A diamond run taken to its end; ``failing`` fails (and cancels what is below it)."""
    store = ReferenceStore()
    view = create_run(store, diamond_spec(), 0.0)
    while claims := claim_all(store, ["diamond"], 1.0):
        for claim in claims:
            if claim.task == failing:
                store.fail(claim.task_run_id, claim.token, task_error(), True, 1.0)
            else:
                store.complete(claim.task_run_id, claim.token, {}, 1.0)
    (ended,) = store.get_runs([view.id])
    return store, ended


def _targets(
    store: ReferenceStore, ids: Sequence[str], spec: WorkflowSpec | None = None
) -> tuple[dict[str, str], list[Sequence[str]]]:
    reads: list[Sequence[str]] = []

    def runs(run_ids: Sequence[str]) -> list[RunView]:
        reads.append(list(run_ids))
        return store.get_runs(run_ids)

    def every_run() -> list[RunView]:
        return store.get_runs(store.run_ids())

    chosen = replay_targets(ids, runs, every_run, lambda view: spec, "replay")
    return chosen, reads


def test_a_workflow_run_id_names_every_task_and_a_task_id_what_is_below_it() -> None:
    store, view = _diamond()
    ids = {name: task.id for name, task in view.tasks.items()}
    chosen, reads = _targets(store, [view.id], diamond_spec())
    assert list(chosen) == [ids[name] for name in "abcd"]
    assert reads == [[view.id]]  # workflow run ids are read in one call
    chosen, _ = _targets(store, [ids["b"]], diamond_spec())
    assert list(chosen) == [ids["b"], ids["d"]]
    assert set(chosen.values()) == {view.id}


def test_what_cannot_be_replayed_is_said_before_anything_is_chosen() -> None:
    store, view = _diamond(failing="b")
    assert view.statuses()["d"] is RunStatus.CANCELLED
    with pytest.raises(InvalidInputError, match=r"task 'd' .* parent 'b', which is FAILED"):
        _targets(store, [view.tasks["d"].id], diamond_spec())
    with pytest.raises(UnsupportedFeatureError, match=r"defined neither through this Hatchet"):
        _targets(store, [view.id], None)
    with pytest.raises(RunNotFoundError, match=r"'nope'.*nothing was replayed"):
        _targets(store, [view.id, "nope"], diamond_spec())

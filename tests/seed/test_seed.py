"""The seed's app (tests/seed/child.py, parent.py, worker.py: only imports changed from the
seed) run on flowsim: the one-slot deadlock explained, the two-slot run succeeding, and
fan-out in both styles."""

import time

import pytest

from flowsim import Hatchet, SlotDeadlockError, UnknownWorkflowError
from tests.seed import parent as parent_module
from tests.seed.child import child_task
from tests.seed.fanout import FanoutInput, fanout_gather, fanout_many
from tests.seed.parent import parent

EXPECTED = {
    "results": [
        {"step1": {"transformed_message": "HELLO, WORLD!"}},
        {"step1": {"transformed_message": "HELLO, MOON!"}},
    ]
}


def test_the_seeds_worker_does_not_register_the_parent(
    hatchet: Hatchet, flowsim_base_url: str
) -> None:
    if flowsim_base_url != "memory://":
        pytest.skip(
            "memory-only rule: on a durable backend a worker in another process may still "
            "register 'parent', so the run stays queued (tests/sdk/test_deadlock.py::"
            "test_a_run_no_live_worker_registers_waits_for_one)"
        )
    with hatchet.worker("test-worker", slots=1, workflows=[child_task]):
        started = time.monotonic()
        with pytest.raises(UnknownWorkflowError) as caught:
            parent.run()
    assert time.monotonic() - started < 1.0
    message = str(caught.value)
    assert "'parent'" in message
    assert "test-worker registers first-task" in message


def test_a_run_not_waited_for_still_queues_an_unregistered_workflow(hatchet: Hatchet) -> None:
    ref = parent.run(wait_for_result=False)
    assert hatchet.runs.view(ref.workflow_run_id).status == "QUEUED"
    with hatchet.worker("test-worker", slots=2, workflows=[child_task, parent]):
        assert ref.result() == EXPECTED


def test_one_slot_deadlock_is_raised_within_a_second_and_explained(hatchet: Hatchet) -> None:
    with hatchet.worker("test-worker", slots=1, workflows=[child_task, parent]):
        started = time.monotonic()
        with pytest.raises(SlotDeadlockError) as caught:
            parent.run()
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    report = caught.value.report
    assert [(h.worker, h.pool, h.slot, h.workflow) for h in report.holders] == [
        ("test-worker", "default", 1, "parent")
    ]
    assert len(report.holders[0].waiting_for) == 2
    assert {b.workflow for b in report.blocked} == {"first-task"}
    assert report.cycle[0].startswith("parent/parent")
    assert any("slots=2" in fix for fix in report.fixes)
    assert any("durable task" in fix for fix in report.fixes)
    text = str(caught.value)
    assert 'Worker "test-worker", default slots: 1, 1 held by waiting runs' in text
    assert "Wait-for cycle" in text and "How to fix" in text


async def test_one_slot_deadlock_async(hatchet: Hatchet) -> None:
    async with hatchet.worker("test-worker", slots=1, workflows=[child_task, parent]):
        with pytest.raises(SlotDeadlockError):
            await parent.aio_run()


def test_two_slots_return_the_upper_cased_outputs(hatchet: Hatchet) -> None:
    with hatchet.worker("test-worker", slots=2, workflows=[child_task, parent]):
        assert parent.run() == EXPECTED


def test_the_seeds_print_line_fails_as_it_would_on_hatchet(hatchet: Hatchet) -> None:
    with hatchet.worker("test-worker", slots=2, workflows=[child_task, parent]):
        results = parent.run()["results"]
    with pytest.raises(KeyError, match="transformed_message"):
        parent_module.print_results(results)
    assert results[0]["step1"]["transformed_message"] == "HELLO, WORLD!"


@pytest.mark.parametrize("n", [3, 1000])
@pytest.mark.parametrize("fanout", [fanout_gather, fanout_many], ids=["gather", "aio_run_many"])
async def test_fan_out(hatchet: Hatchet, fanout: object, n: int) -> None:
    async with hatchet.worker("test-worker", slots=50, workflows=[child_task, fanout]):  # type: ignore[list-item]
        result = await fanout.aio_run(FanoutInput(n=n))  # type: ignore[attr-defined]
    outputs = [r["step1"]["transformed_message"] for r in result["results"]]
    assert outputs == [f"MSG {i}" for i in range(n)]
    runs = hatchet.runs.views()
    assert sum(1 for r in runs if r.workflow == "first-task") == n
    assert all(r.status == "COMPLETED" for r in runs)

"""Mirrors sdks/python/examples/rate_limit (worker.py, dynamic.py, test_rate_limit.py) of
hatchet-dev/hatchet.

The example: ``RateLimitWorkflow`` (input ``user_id``) with ``step_1`` taking one unit of
the static key ``test-limit``, put at 2 per SECOND, and ``step_2`` one unit of the dynamic
key ``input.user_id`` at 10 per MINUTE; ``dynamic.py`` keys on ``'"LIMIT:"+input.group'``
with ``units`` and ``limit`` read from the input. The e2e test runs the workflow three times
and asserts the three finish in 1 to 5 seconds ("a bit more than 1 second": the third
``step_1`` waits for the key's next second). Hatchet skips that test as timing-dependent;
on the manual clock it is exact: we assert Hatchet's bound and the instants themselves,
and the same for the dynamic keys, with no sleep."""

from types import ModuleType

from flowsim import Hatchet, ManualClock
from flowsim.store.protocol import RunView
from tests.helpers import eventually, settle


def _started(view: RunView, task: str) -> float | None:
    attempts = view.tasks[task].attempts if task in view.tasks else ()
    return attempts[0].started_at if attempts else None


async def test_three_runs_finish_a_bit_more_than_one_second_apart_at_most(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import Context
    from hatchet_sdk.rate_limit import RateLimit, RateLimitDuration
    from pydantic import BaseModel

    class RateLimitInput(BaseModel):
        user_id: str

    workflow = hatchet.workflow(name="RateLimitWorkflow", input_validator=RateLimitInput)

    @workflow.task(rate_limits=[RateLimit(static_key="test-limit", units=1)])
    def step_1(input: RateLimitInput, ctx: Context) -> None:
        return None

    @workflow.task(
        rate_limits=[
            RateLimit(
                dynamic_key="input.user_id", units=1, limit=10, duration=RateLimitDuration.MINUTE
            )
        ]
    )
    def step_2(input: RateLimitInput, ctx: Context) -> None:
        return None

    hatchet.rate_limits.put("test-limit", 2, RateLimitDuration.SECOND)
    start = flowsim_clock.now()
    async with hatchet.worker("rate-limit-worker", slots=10, workflows=[workflow]):
        refs = [workflow.run(RateLimitInput(user_id="u1"), wait_for_result=False) for _ in range(3)]

        def views() -> list[RunView]:
            return [hatchet.runs.view(ref.workflow_run_id) for ref in refs]

        await eventually(lambda: [v.status for v in views()] == ["COMPLETED", "COMPLETED",
                                                                  "RUNNING"])  # fmt: skip
        await settle()
        third = views()[2]
        assert third.tasks["step_1"].status == "QUEUED"  # the key's 2 units went to the others
        assert _started(third, "step_2") == start  # 10 per minute for u1: no wait
        flowsim_clock.advance(1.0)
        for ref in refs:
            await ref.aio_result()
    ends = [view.finished_at for view in views()]
    assert [_started(view, "step_1") for view in views()] == [start, start, start + 1.0]
    total = max(e for e in ends if e is not None) - start
    assert 1 <= total <= 5, f"expected a bit more than 1 second, took {total:.2f}"


async def test_dynamic_keys_take_units_and_limits_from_the_input(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import Context
    from hatchet_sdk.rate_limit import RateLimit
    from pydantic import BaseModel

    class DynamicRateLimitInput(BaseModel):
        group: str
        units: int
        limit: int

    workflow = hatchet.workflow(
        name="DynamicRateLimitWorkflow", input_validator=DynamicRateLimitInput
    )

    @workflow.task(
        rate_limits=[
            RateLimit(dynamic_key='"LIMIT:"+input.group', units="input.units", limit="input.limit")
        ]
    )
    def step1(input: DynamicRateLimitInput, context: Context) -> None:
        return None

    start = flowsim_clock.now()
    async with hatchet.worker("rate-limit-worker", slots=10, workflows=[workflow]):
        a1, a2, b = (
            workflow.run(DynamicRateLimitInput(group=g, units=u, limit=n), wait_for_result=False)
            for g, u, n in (("A", 2, 3), ("A", 2, 3), ("B", 1, 1))
        )
        await eventually(lambda: hatchet.runs.view(b.workflow_run_id).status == "COMPLETED")
        await a1.aio_result()
        await settle()
        assert hatchet.runs.view(a2.workflow_run_id).status == "QUEUED"  # 1 unit of A left
        flowsim_clock.advance(59.0)
        await settle()
        assert hatchet.runs.view(a2.workflow_run_id).status == "QUEUED"
        flowsim_clock.advance(1.0)  # the default duration, MINUTE, has passed
        await a2.aio_result()
    assert _started(hatchet.runs.view(a2.workflow_run_id), "step1") == start + 60.0

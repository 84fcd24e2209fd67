"""Mirrors Hatchet's concurrency examples (sdks/python/examples of hatchet-dev/hatchet):
concurrency_limit, concurrency_limit_rr, concurrency_multiple_keys,
concurrency_workflow_level, concurrency_cancel_in_progress (and its task-level variant),
concurrency_cancel_newest and the two cancel_queued_except workflows.

The workflows are written anew from the examples' behaviour, with shorter sleeps, and take
``ConcurrencyExpression`` / ``ConcurrencyLimitStrategy`` from ``hatchet_sdk`` through the
alias. The tests assert what the examples' end-to-end tests assert:

- concurrency_limit (CANCEL_IN_PROGRESS, ``max_runs=5``): of six runs of one group, five
  succeed and one is cancelled by the concurrency strategy;
- concurrency_limit_rr (GROUP_ROUND_ROBIN, ``max_runs=1``): two groups of two runs all
  succeed, none cancelled, taking two rounds (not one, not four);
- concurrency_multiple_keys / concurrency_workflow_level (two GROUP_ROUND_ROBIN keys,
  ``input.digit`` max 8 and ``input.name`` max 3, on the task / on the workflow): at no
  moment do more runs of one digit or one name run than their limit;
- concurrency_cancel_in_progress (+ task level): ten runs of one group started in turn,
  only the last completes, the nine others are CANCELLED;
- concurrency_cancel_newest: the first run completes, the ten started while it runs are
  all CANCELLED;
- cancel_queued_except_newest / _oldest (``max_runs=1``): the first run completes, and of
  the ten started while it runs only the newest (the oldest) waits and completes after it.

Each runs on the memory, SQLite and Postgres backends."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from flowsim import Hatchet
from flowsim.rules import CONCURRENCY_CANCEL_REASON, RunStatus
from flowsim.store.protocol import RunView

#: the examples sleep 2-5 s per task; these keep the same orders of magnitude apart
STEP = 0.3


class GroupInput(BaseModel):
    group: str


class KeysInput(BaseModel):
    name: str
    digit: str


DIGIT_MAX_RUNS = 8
NAME_MAX_RUNS = 3


def _statuses(hatchet: Hatchet, run_ids: Iterable[str]) -> list[RunStatus]:
    return [hatchet.runs.view(run_id).status for run_id in run_ids]


async def _outcomes(hatchet: Hatchet, refs: list[Any]) -> list[str]:
    """``"ok"`` for each run that completed, else why it did not, in order. The examples
    await every result (catching any failure) and then read the statuses back: a run a
    strategy cancelled raises nothing there, as in hatchet_sdk, whose engine reports a
    cancelled task without an error; the reason is the stored task's."""
    found = []
    for ref in refs:
        try:
            await asyncio.wait_for(ref.aio_result(), 20)
        except Exception as exc:  # the examples catch any failure the same way
            found.append(str(exc))
            continue
        view = hatchet.runs.view(ref.workflow_run_id)
        reasons = [task.error.exc for task in view.tasks.values() if task.error is not None]
        found.append("ok" if view.status == RunStatus.COMPLETED else "; ".join(reasons))
    return found


async def test_cancel_in_progress_with_five_places_cancels_one_of_six(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import ConcurrencyExpression, ConcurrencyLimitStrategy, Context

    limited = hatchet.workflow(
        name="ConcurrencyDemoWorkflow",
        concurrency=ConcurrencyExpression(
            expression="input.group",
            max_runs=5,
            limit_strategy=ConcurrencyLimitStrategy.CANCEL_IN_PROGRESS,
        ),
        input_validator=GroupInput,
    )

    @limited.task()
    def step1(input: GroupInput, ctx: Context) -> dict[str, str]:
        time.sleep(STEP)
        return {"group": input.group}

    async with hatchet.worker("concurrency-demo-worker", slots=10, workflows=[limited]):
        refs = [
            await limited.aio_run(GroupInput(group="A"), wait_for_result=False) for _ in range(6)
        ]
        outcomes = await _outcomes(hatchet, refs)

    assert outcomes.count("ok") == 5
    cancelled = [i for i, outcome in enumerate(outcomes) if outcome != "ok"]
    # the oldest run in progress made room for the sixth
    assert cancelled == [0]
    assert CONCURRENCY_CANCEL_REASON in outcomes[0]


async def test_round_robin_groups_run_in_two_rounds_and_none_is_cancelled(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import ConcurrencyExpression, ConcurrencyLimitStrategy, Context

    spans: dict[str, list[tuple[float, float]]] = {"1": [], "2": []}
    lock = threading.Lock()
    rr = hatchet.workflow(
        name="ConcurrencyDemoWorkflowRR",
        concurrency=ConcurrencyExpression(
            expression="input.group",
            max_runs=1,
            limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN,
        ),
        input_validator=GroupInput,
    )

    @rr.task()
    def step1(input: GroupInput, ctx: Context) -> None:
        started = time.monotonic()
        time.sleep(STEP)
        with lock:
            spans[input.group].append((started, time.monotonic()))

    async with hatchet.worker("concurrency-demo-worker-rr", slots=10, workflows=[rr]):
        begun = time.monotonic()
        refs = [
            await rr.aio_run(GroupInput(group=g), wait_for_result=False)
            for g in ("1", "1", "2", "2")
        ]
        outcomes = await _outcomes(hatchet, refs)
        total = time.monotonic() - begun

    assert outcomes == ["ok"] * 4  # none cancelled
    # one run of a group at a time: two rounds at least...
    assert total >= 2 * STEP
    for group_spans in spans.values():
        (first, second) = sorted(group_spans)
        assert first[1] <= second[0]
    # ...and the groups share them: each group's first run overlaps the other's
    (a, _), (b, _) = sorted(spans["1"]), sorted(spans["2"])
    assert a[0] < b[1] and b[0] < a[1]


def _running_at_once(runs: list[RunView]) -> tuple[Counter[str], Counter[str]]:
    """The most runs of one digit, and of one name, that ran at the same instant (a sweep
    over the runs' start and end times; an end at t comes before a start at t)."""
    events: list[tuple[float, int, RunView]] = []
    for run in runs:
        attempts = [a for task in run.tasks.values() for a in task.attempts]
        start = min(a.started_at for a in attempts)
        end = max(a.finished_at or 0.0 for a in attempts)
        events += [(start, 1, run), (end, 0, run)]
    digits: Counter[str] = Counter()
    names: Counter[str] = Counter()
    most_digits: Counter[str] = Counter()
    most_names: Counter[str] = Counter()
    for _, starting, run in sorted(events, key=lambda e: (e[0], e[1])):
        step = 1 if starting else -1
        digits[run.input["digit"]] += step
        names[run.input["name"]] += step
        most_digits[run.input["digit"]] = max(most_digits[run.input["digit"]],
                                              digits[run.input["digit"]])  # fmt: skip
        most_names[run.input["name"]] = max(most_names[run.input["name"]],
                                            names[run.input["name"]])  # fmt: skip
    return most_digits, most_names


def _keys_items(workflow: Any, count: int) -> list[Any]:
    chooser = random.Random(7)  # the example draws at random: a fixed seed keeps it repeatable
    items = []
    for _ in range(count):
        name = chooser.choice(["Anna", "Vronsky"])
        digit = chooser.choice(["0", "1"])
        items.append(workflow.create_bulk_run_item(KeysInput(name=name, digit=digit)))
    return items


@pytest.mark.parametrize("level", ["task", "workflow"])
async def test_two_keys_never_run_more_than_their_limits_at_once(
    hatchet_sdk: ModuleType, hatchet: Hatchet, level: str
) -> None:
    from hatchet_sdk import ConcurrencyExpression, ConcurrencyLimitStrategy, Context

    limits = [
        ConcurrencyExpression(
            expression="input.digit",
            max_runs=DIGIT_MAX_RUNS,
            limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN,
        ),
        ConcurrencyExpression(
            expression="input.name",
            max_runs=NAME_MAX_RUNS,
            limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN,
        ),
    ]
    if level == "workflow":  # concurrency_workflow_level: two tasks under the run's places
        keyed = hatchet.workflow(
            name="ConcurrencyWorkflowLevel", input_validator=KeysInput, concurrency=limits
        )

        @keyed.task()
        async def task_1(input: KeysInput, ctx: Context) -> None:
            await asyncio.sleep(STEP / 3)

        @keyed.task()
        async def task_2(input: KeysInput, ctx: Context) -> None:
            await asyncio.sleep(STEP / 3)

    else:  # concurrency_multiple_keys: the limits on the task
        keyed = hatchet.workflow(name="ConcurrencyWorkflowManyKeys", input_validator=KeysInput)

        @keyed.task(concurrency=limits)
        async def concurrency_task(input: KeysInput, ctx: Context) -> None:
            await asyncio.sleep(STEP / 3)

    async with hatchet.worker("concurrency-worker-keys", slots=10, workflows=[keyed]):
        refs = await keyed.aio_run_many(_keys_items(keyed, 24), wait_for_result=False)
        assert await _outcomes(hatchet, refs) == ["ok"] * 24

    runs = [hatchet.runs.view(ref.workflow_run_id) for ref in refs]
    most_digits, most_names = _running_at_once(runs)
    assert max(most_digits.values()) <= DIGIT_MAX_RUNS
    assert max(most_names.values()) <= NAME_MAX_RUNS
    # the name limit bound: ten slots, yet never more than three of a name at once
    assert max(most_names.values()) == NAME_MAX_RUNS


@pytest.mark.parametrize("level", ["workflow", "task"])
async def test_cancel_in_progress_leaves_only_the_last_run_completed(
    hatchet_sdk: ModuleType, hatchet: Hatchet, level: str
) -> None:
    from hatchet_sdk import ConcurrencyExpression, ConcurrencyLimitStrategy, Context

    limit = ConcurrencyExpression(
        expression="input.group",
        max_runs=1,
        limit_strategy=ConcurrencyLimitStrategy.CANCEL_IN_PROGRESS,
    )
    if level == "workflow":  # a two-step DAG under the workflow's place
        newest_wins = hatchet.workflow(
            name="ConcurrencyCancelInProgress", concurrency=limit, input_validator=GroupInput
        )

        @newest_wins.task()
        async def step1(input: GroupInput, ctx: Context) -> None:
            await asyncio.sleep(STEP)

        @newest_wins.task(parents=[step1])
        async def step2(input: GroupInput, ctx: Context) -> None:
            await asyncio.sleep(STEP)

    else:
        newest_wins = hatchet.workflow(
            name="ConcurrencyCancelInProgressTaskLevel", input_validator=GroupInput
        )

        @newest_wins.task(concurrency=[limit])
        async def task(input: GroupInput, ctx: Context) -> None:
            await asyncio.sleep(2 * STEP)

    async with hatchet.worker("cancel-in-progress-worker", workflows=[newest_wins]):
        refs = []
        for i in range(10):
            refs.append(
                await newest_wins.aio_run(
                    GroupInput(group="A"),
                    additional_metadata={"i": str(i)},
                    wait_for_result=False,
                )
            )
            await asyncio.sleep(STEP / 6)
        await _outcomes(hatchet, refs)

    runs = sorted(
        (hatchet.runs.view(ref.workflow_run_id) for ref in refs),
        key=lambda run: int(run.additional_metadata["i"]),
    )
    assert len(runs) == 10
    assert runs[-1].additional_metadata["i"] == "9"
    assert runs[-1].status == RunStatus.COMPLETED
    assert [run.status for run in runs[:-1]] == [RunStatus.CANCELLED] * 9


def _two_steps(hatchet: Hatchet, name: str, strategy: str) -> Any:
    """The examples' two-step workflow, one place per ``input.group`` under ``strategy``
    (hatchet_sdk's names: call it where the ``hatchet_sdk`` alias is installed)."""
    from hatchet_sdk import ConcurrencyExpression, ConcurrencyLimitStrategy, Context

    workflow = hatchet.workflow(
        name=name,
        concurrency=ConcurrencyExpression(
            expression="input.group",
            max_runs=1,
            limit_strategy=ConcurrencyLimitStrategy(strategy),
        ),
        input_validator=GroupInput,
    )

    @workflow.task()
    async def step1(input: GroupInput, ctx: Context) -> None:
        await asyncio.sleep(STEP)

    @workflow.task(parents=[step1])
    async def step2(input: GroupInput, ctx: Context) -> None:
        await asyncio.sleep(STEP)

    return workflow


async def test_cancel_newest_keeps_the_first_run_and_cancels_the_rest(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import TriggerWorkflowOptions

    oldest_wins = _two_steps(hatchet, "ConcurrencyCancelNewest", "CANCEL_NEWEST")
    tagged = TriggerWorkflowOptions(additional_metadata={"test_run_id": "newest"})
    async with hatchet.worker("cancel-newest-worker", workflows=[oldest_wins]):
        to_run = await oldest_wins.aio_run(
            GroupInput(group="A"), options=tagged, wait_for_result=False
        )
        await asyncio.sleep(STEP / 3)
        to_cancel = await oldest_wins.aio_run_many(
            [
                oldest_wins.create_bulk_run_item(input=GroupInput(group="A"), options=tagged)
                for _ in range(10)
            ],
            wait_for_result=False,
        )
        await asyncio.wait_for(to_run.aio_result(), 20)
        assert await _outcomes(hatchet, to_cancel) == [CONCURRENCY_CANCEL_REASON] * 10

    assert hatchet.runs.view(to_run.workflow_run_id).status == RunStatus.COMPLETED
    others = [ref.workflow_run_id for ref in to_cancel]
    assert _statuses(hatchet, others) == [RunStatus.CANCELLED] * 10


@pytest.mark.parametrize(
    ("strategy", "survivor"),
    [("CANCEL_QUEUED_EXCEPT_NEWEST", 9), ("CANCEL_QUEUED_EXCEPT_OLDEST", 0)],
)
async def test_cancel_queued_except_keeps_one_queued_run_behind_the_running_one(
    hatchet_sdk: ModuleType, hatchet: Hatchet, strategy: str, survivor: int
) -> None:
    """Hatchet's ConcurrencyCancelQueuedExceptNewest / ...Oldest workflows (``max_runs=1``,
    two steps): the first run completes; of the ten started while it runs, the newest (or
    the oldest) waits and completes after it, the nine others are cancelled at once."""
    debounced = _two_steps(hatchet, f"Concurrency{strategy.title().replace('_', '')}", strategy)
    async with hatchet.worker("cancel-queued-worker", workflows=[debounced]):
        first = await debounced.aio_run(GroupInput(group="A"), wait_for_result=False)
        await asyncio.sleep(STEP / 3)
        later = await debounced.aio_run_many(
            [debounced.create_bulk_run_item(input=GroupInput(group="A")) for _ in range(10)],
            wait_for_result=False,
        )
        outcomes = await _outcomes(hatchet, [first, *later])

    expected = ["ok"] + [
        "ok" if index == survivor else CONCURRENCY_CANCEL_REASON for index in range(10)
    ]
    assert [text if text == "ok" else CONCURRENCY_CANCEL_REASON for text in outcomes] == expected
    assert all(text == "ok" or CONCURRENCY_CANCEL_REASON in text for text in outcomes)
    kept = hatchet.runs.view(later[survivor].workflow_run_id)
    assert kept.tasks["step1"].attempts[0].started_at >= max(
        attempt.finished_at or 0.0
        for attempt in hatchet.runs.view(first.workflow_run_id).tasks["step2"].attempts
    )

"""Worker placement through the SDK, on every backend: labels in both of hatchet-sdk's
forms, labels changed at runtime, sticky children from bulk items, and the definition
errors that name what to fix."""

import pytest

from flowsim import (
    ConfigurationError,
    Context,
    DesiredWorkerLabel,
    EmptyModel,
    Hatchet,
    StickyStrategy,
    TriggerWorkflowOptions,
    UnsupportedFeatureError,
    WorkerLabel,
    WorkerLabelComparator,
    WorkflowDefinitionError,
)


async def test_labels_upserted_at_runtime_place_the_next_tasks(hatchet: Hatchet) -> None:
    @hatchet.task(
        name="needs-v2",
        desired_worker_labels=[DesiredWorkerLabel(key="model", value="v2", required=True)],
        schedule_timeout="10s",  # a failure here ends the run rather than hang the test
    )
    async def needs_v2(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"worker": ctx.worker_id}

    @hatchet.task(name="loader")
    async def loader(input: EmptyModel, ctx: Context) -> dict[str, str]:
        await ctx.aio_upsert_worker_labels({"model": "v2"})
        return {"worker": ctx.worker_id}

    worker = hatchet.worker("w", slots=2, labels=[WorkerLabel(key="model", value="v1")],
                            workflows=[needs_v2, loader])  # fmt: skip
    async with worker:
        loaded = await loader.aio_run()
        placed = await needs_v2.aio_run()  # the worker has v2 now
    assert placed["worker"] == loaded["worker"]


async def test_a_bulk_item_with_sticky_runs_the_child_on_the_spawners_worker(
    hatchet: Hatchet,
) -> None:
    child = hatchet.workflow(name="child", sticky=StickyStrategy.HARD)

    @child.task()
    def where(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"worker": ctx.worker_id}

    @hatchet.task(name="spawner")
    async def spawner(input: EmptyModel, ctx: Context) -> dict[str, object]:
        items = [
            child.create_bulk_run_item(options=TriggerWorkflowOptions(sticky=True)),
            child.create_bulk_run_item(sticky=True),
        ]
        results = await child.aio_run_many(items)
        return {"me": ctx.worker_id, "children": [r["where"]["worker"] for r in results]}

    first = hatchet.worker("first", slots=3, workflows=[spawner, child])
    second = hatchet.worker("second", slots=3, workflows=[spawner, child])
    async with first, second:
        result = await spawner.aio_run()
    assert result["children"] == [result["me"], result["me"]]


def test_bad_labels_and_strategies_are_named(hatchet: Hatchet) -> None:
    wf = hatchet.workflow(name="bad")
    with pytest.raises(WorkflowDefinitionError, match="has no key"):
        wf.task(desired_worker_labels=[DesiredWorkerLabel(value="x")])(lambda i, c: None)
    with pytest.raises(WorkflowDefinitionError, match=r"StickyStrategy\.SOFT"):
        hatchet.workflow(name="sticky", sticky="SOMETIMES")  # type: ignore[arg-type]
    worker = hatchet.worker("w", labels={"gpu": 1.5}, workflows=[])  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="strings or integers"), worker:
        pass


def test_the_comparator_enum_and_defaults_are_hatchets() -> None:
    label = DesiredWorkerLabel(key="memory", value=256)
    assert (label.required, label.weight, label.comparator) == (False, None, None)
    assert [c.value for c in WorkerLabelComparator] == [0, 1, 2, 3, 4, 5]


async def test_a_hard_sticky_child_of_a_waiting_parent_is_a_slot_deadlock(
    hatchet: Hatchet, flowsim_base_url: str
) -> None:
    """The parent holds its worker's only slot while it waits for a child pinned to that
    worker: another worker is free, but may not run the child. One process sees it at
    once; a shared store's snapshot does not carry pins, so there the child waits for its
    schedule timeout (docs/semantics.md)."""
    from flowsim import SlotDeadlockError

    if not flowsim_base_url.startswith("memory"):
        pytest.skip("the cross-process deadlock analysis does not see sticky pins")
    child = hatchet.workflow(name="pinned-child", sticky=StickyStrategy.HARD)
    child.task()(lambda input, ctx: None)

    @hatchet.task(name="parent")
    async def parent(input: EmptyModel, ctx: Context) -> None:
        await child.aio_run(options=TriggerWorkflowOptions(sticky=True))

    async with (
        hatchet.worker("busy", slots=1, workflows=[parent, child]),
        hatchet.worker("idle", slots=1, workflows=[child]),
    ):
        with pytest.raises(SlotDeadlockError, match="idle may not run it") as info:
            await parent.aio_run()
    assert "HARD sticky to worker" in str(info.value)


async def test_sticky_with_a_desired_worker_id_pins_the_run_to_that_worker(
    hatchet: Hatchet,
) -> None:
    """hatchet_sdk sends ``desired_worker_id`` with ``sticky=True`` (also from outside a
    task, and in bulk items); a HARD sticky workflow's run then runs on that worker only.
    Without ``sticky=True`` hatchet_sdk drops the id: refused, saying so."""
    pinned = hatchet.workflow(name="pinned", sticky=StickyStrategy.HARD)

    @pinned.task()
    async def where(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"worker": ctx.worker_id}

    first = hatchet.worker("first", slots=2, workflows=[pinned])
    second = hatchet.worker("second", slots=2, workflows=[pinned])
    async with first, second:
        ids = {runtime.name: runtime.id for runtime in hatchet.engine.workers()}
        for name in ("first", "second"):
            target = ids[name]
            single = await pinned.aio_run(sticky=True, desired_worker_id=target)
            options = TriggerWorkflowOptions(sticky=True, desired_worker_id=target)
            bulk = await pinned.aio_run_many(
                [pinned.create_bulk_run_item(options=options),
                 pinned.create_bulk_run_item(sticky=True, desired_worker_id=target)]
            )  # fmt: skip
            assert [single, *bulk] == [{"where": {"worker": target}}] * 3
        with pytest.raises(UnsupportedFeatureError, match="without sticky=True does nothing"):
            await pinned.aio_run(desired_worker_id=ids["first"])
        lost = pinned.create_bulk_run_item(desired_worker_id=ids["first"])  # kept, as there
        with pytest.raises(UnsupportedFeatureError, match="without sticky=True"):
            await pinned.aio_run_many([lost])


async def test_a_desired_worker_that_does_not_register_the_workflow_is_refused(
    hatchet: Hatchet,
) -> None:
    pinned = hatchet.workflow(name="pinned", sticky=StickyStrategy.SOFT)
    plain = hatchet.workflow(name="plain")

    @pinned.task()
    async def where(input: EmptyModel, ctx: Context) -> None: ...

    @plain.task()
    async def other(input: EmptyModel, ctx: Context) -> None: ...

    async with hatchet.worker("elsewhere", slots=1, workflows=[plain]):
        (runtime,) = hatchet.engine.workers()
        with pytest.raises(WorkflowDefinitionError, match="does not register 'pinned'"):
            await pinned.aio_run(sticky=True, desired_worker_id=runtime.id, wait_for_result=False)
        with pytest.raises(WorkflowDefinitionError, match="no sticky strategy"):
            await plain.aio_run(sticky=True, desired_worker_id=runtime.id, wait_for_result=False)


async def test_a_triggers_labels_replace_the_tasks_own(hatchet: Hatchet) -> None:
    """Hatchet's scheduler puts a trigger's desired labels in place of the task's (not
    merged): the task's own required gpu label no longer applies to that run."""

    @hatchet.task(
        name="placed-by-trigger",
        desired_worker_labels=[DesiredWorkerLabel(key="gpu", value="a100", required=True)],
    )
    async def placed(input: EmptyModel, ctx: Context) -> dict[str, str | int]:
        return dict(ctx.worker_labels)

    cpu = hatchet.worker("cpu", slots=2, workflows=[placed], labels={"kind": "cpu"})
    gpu = hatchet.worker("gpu", slots=2, workflows=[placed], labels={"gpu": "a100"})
    on_cpu = [DesiredWorkerLabel(key="kind", value="cpu", required=True)]
    async with cpu, gpu:
        assert await placed.aio_run() == {"gpu": "a100"}
        assert await placed.aio_run(desired_worker_labels=on_cpu) == {"kind": "cpu"}
        with pytest.warns(DeprecationWarning, match="as a dict is deprecated"):
            ref = await placed.aio_run(
                desired_worker_labels={"kind": DesiredWorkerLabel(value="cpu", required=True)},
                wait_for_result=False,
            )
        assert await ref.aio_result() == {"kind": "cpu"}


async def test_a_worker_started_after_a_labelled_trigger_honours_it(hatchet: Hatchet) -> None:
    @hatchet.task(name="unlabelled")
    async def unlabelled(input: EmptyModel, ctx: Context) -> dict[str, str | int]:
        return dict(ctx.worker_labels)

    on_b = TriggerWorkflowOptions(
        desired_worker_label=[DesiredWorkerLabel(key="zone", value="b", required=True)]
    )
    ref = await unlabelled.aio_run(options=on_b, wait_for_result=False)  # before any worker is up
    a = hatchet.worker("a", slots=2, workflows=[unlabelled], labels={"zone": "a"})
    b = hatchet.worker("b", slots=2, workflows=[unlabelled], labels={"zone": "b"})
    async with a, b:
        assert await ref.aio_result() == {"zone": "b"}

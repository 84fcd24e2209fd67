"""A task's result whose write fails is kept and written by the next heartbeat.

The worker still holds the task run (its heartbeats renew the lease), so a result dropped
after a failed write would leave the run RUNNING for as long as the worker lives, and its
parent waiting with it. Here the store refuses one write with the backend's own
``StoreError`` (what a Postgres restart's aborted pipeline or a SQLite write lock held past
the busy timeout raise): not a lost database, after which the result was always kept. On
``memory://`` there is no store write to fail, so those cases skip.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest

from flowsim import Context, EmptyModel, Hatchet
from flowsim.engine.durable import DurableEngine
from flowsim.errors import FlowsimError
from flowsim.rules import RunStatus
from tests.helpers import eventually

#: a short lease: the next heartbeat (a third of it) comes soon
LEASE_SECONDS = 0.9
#: the run ends within a few heartbeats with the fix, never without it
DEADLINE = 15.0


def _durable(hatchet: Hatchet) -> DurableEngine:
    engine = hatchet.engine
    if not isinstance(engine, DurableEngine):
        pytest.skip("the in-memory backend has no store write to fail")
    engine.lease_seconds = LEASE_SECONDS
    return engine


def _store_error(store: object, message: str) -> Exception:
    """The store's own backend's ``StoreError`` (flowsim_sqlite's or flowsim_postgres's)."""
    backend = importlib.import_module(type(store).__module__.split(".")[0] + ".errors")
    error: Exception = backend.StoreError(message)
    return error


def _fail_once(monkeypatch: pytest.MonkeyPatch, engine: DurableEngine, method: str) -> list[str]:
    """Make the store's ``method`` raise its backend's StoreError at the first call (the
    write is not made); returns the record of calls, 'refused' or 'written'."""
    store = engine.run_store
    real = getattr(store, method)
    calls: list[str] = []

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        if not calls:
            calls.append("refused")
            raise _store_error(store, f"{method} failed: pipeline aborted (injected)")
        calls.append("written")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, method, failing_once)
    return calls


def _reported(loop: asyncio.AbstractEventLoop) -> list[dict[str, Any]]:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))
    return contexts


async def test_a_completion_whose_write_fails_is_written_by_the_next_heartbeat(
    hatchet: Hatchet, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _durable(hatchet)
    calls = _fail_once(monkeypatch, engine, "complete_many")
    ran: list[int] = []

    @hatchet.task(name="unwritten-ok")
    async def task(input: EmptyModel, ctx: Context) -> dict[str, int]:
        ran.append(ctx.attempt_number)
        return {"done": 1}

    reports = _reported(asyncio.get_running_loop())
    async with hatchet.worker("unwritten-worker", slots=2, workflows=[task]):
        result = await asyncio.wait_for(task.aio_run(), DEADLINE)
    assert result == {"done": 1}
    assert ran == [1]  # written, not re-run after a lapsed lease
    assert calls[:2] == ["refused", "written"]
    (report,) = [c for c in reports if isinstance(c.get("exception"), FlowsimError)]
    assert "next heartbeat tries again" in report["message"]
    assert "pipeline aborted (injected)" in str(report["exception"])


async def test_a_failure_whose_write_fails_is_written_by_the_next_heartbeat(
    hatchet: Hatchet, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _durable(hatchet)
    calls = _fail_once(monkeypatch, engine, "fail")
    ran: list[int] = []

    @hatchet.task(name="unwritten-failing", retries=0)
    async def task(input: EmptyModel, ctx: Context) -> dict[str, int]:
        ran.append(ctx.attempt_number)
        raise RuntimeError("the task's own error")

    _reported(asyncio.get_running_loop())
    async with hatchet.worker("unwritten-worker", slots=2, workflows=[task]):
        ref = await task.aio_run(wait_for_result=False)
        with pytest.raises(Exception, match="the task's own error"):
            await asyncio.wait_for(ref.aio_result(), DEADLINE)
    assert ran == [1]
    assert calls[:2] == ["refused", "written"]


async def test_a_result_the_store_refuses_for_good_holds_back_no_other(
    hatchet: Hatchet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tasks of a run end in one loop turn, so one ``complete_many`` writes both; the
    store refuses one of them every time. The batch is kept as single results, so the
    other is written at the next heartbeat, and the refused one is tried (and reported)
    at each heartbeat without stopping the heartbeat's other work."""
    engine = _durable(hatchet)
    store = engine.run_store
    real = store.complete_many
    refused: list[int] = []

    def refusing(items: Any, now: float) -> Any:
        if any(item.output == {"task": "refused"} for item in items):
            refused.append(len(items))
            raise _store_error(store, "complete_many failed: refused for good (injected)")
        return real(items, now)

    monkeypatch.setattr(store, "complete_many", refusing)
    wf = hatchet.workflow(name="one-refused")

    @wf.task()
    async def accepted(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"task": "accepted"}

    @wf.task()
    async def refused_task(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"task": "refused"}

    reports = _reported(asyncio.get_running_loop())
    async with hatchet.worker("refusing", slots=2, workflows=[wf]):
        ref = await wf.aio_run(wait_for_result=False)

        def written() -> bool:
            tasks = hatchet.runs.view(ref.workflow_run_id).tasks
            return tasks["accepted"].status is RunStatus.COMPLETED

        await eventually(written, within=DEADLINE)
        await eventually(lambda: len(refused) >= 3, within=DEADLINE)  # tried at each beat
        tasks = hatchet.runs.view(ref.workflow_run_id).tasks
        assert tasks["refused_task"].status is RunStatus.RUNNING
        await hatchet.runs.aio_cancel(ref.workflow_run_id)
    assert refused[0] == 2 and set(refused[1:]) == {1}  # the batch, then that result alone
    assert any("still could not be written" in r["message"] for r in reports)

"""Worker lifecycles: blocking start() draining on SIGTERM, background with/async with."""

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from flowsim import (
    BlockingCallError,
    ConfigurationError,
    Context,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    LoopAlreadyRunningError,
)
from tests.helpers import eventually, settle

SCRIPT = textwrap.dedent(
    """
    import os, signal, time
    from flowsim import Context, EmptyModel, Hatchet

    hatchet = Hatchet()

    @hatchet.task(name="slow")
    def slow(input: EmptyModel, ctx: Context) -> dict:
        os.kill(os.getpid(), signal.SIGTERM)  # the worker is asked to stop mid-task
        time.sleep(0.3)
        return {"finished": True}

    ref = slow.run(wait_for_result=False)
    hatchet.worker("drainer", slots=1, workflows=[slow]).start()
    run = hatchet.runs.view(ref.workflow_run_id)
    print("after start():", run.status, run.result())
    """
)


def test_start_blocks_and_drains_running_tasks_on_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "worker_script.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert "after start(): COMPLETED {'slow': {'finished': True}}" in done.stdout


async def test_blocking_run_inside_async_code_on_the_engine_loop_is_an_error(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="inner")
    async def inner(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"ok": True}

    @hatchet.task(name="outer")
    async def outer(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"inner": inner.run()}  # sync run() would block the loop forever

    async with hatchet.worker("w", slots=2, workflows=[inner, outer]):
        with pytest.raises(FailedTaskRunExceptionGroup) as caught:
            await outer.aio_run()
        with pytest.raises(BlockingCallError, match="aio_run"):
            inner.run()
    assert caught.value.exceptions[0].exc_type == "BlockingCallError"


def test_leaving_with_stops_the_engine_thread(hatchet: Hatchet) -> None:
    @hatchet.task(name="noop")
    def noop(input: EmptyModel, ctx: Context) -> None:
        return None

    with hatchet.worker("w", slots=1, workflows=[noop]) as worker:
        assert worker.running and hatchet.engine.loop is not None
        # hatchet_sdk's sync result of a task with no output, validated as ``-> None`` is
        assert noop.run() == EmptyModel(noop=None)
    assert not worker.running and hatchet.engine.loop is None


async def test_draining_fails_a_parent_waiting_on_children_only_this_worker_would_run(
    hatchet: Hatchet,
) -> None:
    """Leaving ``async with`` stops claiming: a parent already waiting on a queued child
    that no other worker registers can never finish, so it fails when the drain starts
    (it would otherwise hold the drain until its execution timeout)."""
    import asyncio

    hog_gate = asyncio.Event()

    @hatchet.task(name="hog")
    async def hog(input: EmptyModel, ctx: Context) -> None:
        await hog_gate.wait()

    @hatchet.task(name="late-kid")
    async def late_kid(input: EmptyModel, ctx: Context) -> None:
        return None

    @hatchet.task(name="waiting-parent")
    async def waiting_parent(input: EmptyModel, ctx: Context) -> None:
        await late_kid.aio_run()

    worker = hatchet.worker("w", slots=2, workflows=[hog, late_kid, waiting_parent])
    async with worker:
        hog.run(wait_for_result=False)
        ref = waiting_parent.run(wait_for_result=False)
        await settle()  # both slots taken: the hog runs, the parent waits on a queued kid
        drain = asyncio.ensure_future(worker.aio_stop())
        await eventually(lambda: hatchet.runs.view(ref.workflow_run_id).status == "FAILED")
        run = hatchet.runs.view(ref.workflow_run_id)
        hog_gate.set()
        await asyncio.wait_for(drain, 5)
    error = run.tasks["waiting-parent"].error
    assert error is not None and error.exc_type == "UnknownWorkflowError"
    assert "w (draining: claims nothing new) registers" in error.exc
    assert not error.exc.startswith("Slot deadlock") and "slots=" not in error.exc


async def test_a_reset_backend_is_not_kept_alive_by_its_timers(hatchet: Hatchet) -> None:
    """Resetting must cancel the engine's pending timers (schedule, execution, backoff):
    they reference the engine, and with it every run it ever held."""
    import gc
    import weakref

    from flowsim import backend

    @hatchet.task(name="quick")
    async def quick(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"ok": 1}

    @hatchet.task(name="backs-off", retries=1, backoff_factor=600.0)
    async def backs_off(input: EmptyModel, ctx: Context) -> None:
        raise RuntimeError("retry in 10 minutes")

    async with hatchet.worker("w", slots=2, workflows=[quick, backs_off]):
        await quick.aio_run_many([quick.create_bulk_run_item() for _ in range(10)])
        backs_off.run(wait_for_result=False)
        await settle()
    engine = weakref.ref(hatchet.engine)
    backend.reset()
    await settle()  # callbacks already queued for the next loop turn may run first
    gc.collect()
    assert engine() is None


async def test_workflows_registered_after_the_worker_is_made_are_served(hatchet: Hatchet) -> None:
    pipeline = hatchet.workflow(name="registered-later")

    @pipeline.task()
    async def step(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"by": ctx.worker_id}

    @hatchet.task(name="registered-async")
    async def alone(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        return {"ran": True}

    worker = hatchet.worker("late", slots=2)
    worker.register_workflow(pipeline)
    await worker.aio_register_workflow(alone)
    worker.register_workflows([pipeline, alone])  # the same objects again: no change
    assert [w.name for w in worker.workflows] == ["registered-later", "registered-async"]
    with pytest.raises(ConfigurationError, match="you likely passed a task"):
        worker.register_workflow(step)  # type: ignore[arg-type]
    async with worker:
        assert (await pipeline.aio_run())["step"]["by"]
        assert await alone.aio_run() == {"ran": True}


async def test_start_where_a_loop_runs_is_refused_as_in_hatchet_sdk(hatchet: Hatchet) -> None:
    """hatchet_sdk 1.43 raises LoopAlreadyRunningError there; Hatchet's worker_existing_loop
    example then stops the worker with ``await worker.exit_gracefully()``."""

    @hatchet.task(name="in-loop")
    async def in_loop(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        return {"ok": True}

    worker = hatchet.worker("in-loop", slots=1, workflows=[in_loop])
    with pytest.raises(LoopAlreadyRunningError, match="async with worker"):
        worker.start()
    await worker.exit_gracefully()  # never started: nothing to stop, no error
    async with worker:
        assert await in_loop.aio_run() == {"ok": True}
        await worker.exit_gracefully()
        assert not worker.running


@pytest.mark.parametrize("how", ["stop", "exit_gracefully"])
def test_a_start_serving_in_a_thread_drains_and_returns_when_stopped_from_outside(
    hatchet: Hatchet, how: str
) -> None:
    finished = threading.Event()

    @hatchet.task(name="slow")
    def slow(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        time.sleep(0.2)
        finished.set()
        return {"finished": True}

    worker = hatchet.worker("served", slots=1, workflows=[slow])
    serving = threading.Thread(target=worker.start, daemon=True)
    serving.start()
    ref = slow.run(wait_for_result=False)
    started = time.monotonic()
    while hatchet.runs.view(ref.workflow_run_id).status != "RUNNING":
        assert time.monotonic() - started < 5, "the worker never took the run"
        time.sleep(0.01)
    if how == "stop":
        worker.stop()
    else:
        asyncio.run(worker.exit_gracefully())
    assert finished.is_set()  # drained: the running task finished before stop returned
    serving.join(5)
    assert not serving.is_alive() and not worker.running
    assert ref.result() == {"finished": True}

"""Worker lifespans (``hatchet.worker(..., lifespan=fn)``), on every backend: the code
before the generator's ``yield`` runs as the worker starts, the value yielded is every
task's ``ctx.lifespan``, the code after runs once the worker has drained."""

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from flowsim import Context, EmptyModel, Hatchet
from flowsim.errors import ConfigurationError, LifespanSetupError
from tests.helpers import eventually


async def test_tasks_share_what_the_lifespan_yielded_and_its_cleanup_runs_after_them(
    hatchet: Hatchet,
) -> None:
    log: list[str] = []

    async def lifespan() -> AsyncGenerator[dict[str, str], None]:
        log.append("start")
        yield {"pool": "shared"}
        log.append("stop")

    @hatchet.task(name="uses-lifespan")
    async def uses(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        log.append("begin")
        await asyncio.sleep(0.1)
        log.append("end")
        return {"pool": ctx.lifespan["pool"], "id": id(ctx.lifespan)}

    worker = hatchet.worker("w", slots=2, workflows=[uses], lifespan=lifespan)
    async with worker:
        assert log == ["start"]  # before anything is claimed
        first, second = await asyncio.gather(uses.aio_run(), uses.aio_run())
        refs = [await uses.aio_run(wait_for_result=False) for _ in range(2)]
        await eventually(lambda: log.count("begin") == 4)
    # leaving drained the two runs still running before the cleanup ran
    assert log == ["start", "begin", "begin", "end", "end", "begin", "begin", "end", "end",
                   "stop"]  # fmt: skip
    assert first["pool"] == second["pool"] == "shared"
    assert first["id"] == second["id"]  # the one object, not a copy per task
    assert [await ref.aio_result() for ref in refs] == [first, first]


def test_a_background_worker_runs_its_lifespan_on_the_loop_its_tasks_run_on(
    hatchet: Hatchet,
) -> None:
    loops: list[int] = []

    async def lifespan() -> AsyncGenerator[str, None]:
        loops.append(id(asyncio.get_running_loop()))
        yield "resource"
        loops.append(id(asyncio.get_running_loop()))

    @hatchet.task(name="sees-lifespan")
    async def sees(input: EmptyModel, ctx: Context) -> dict[str, str]:
        loops.append(id(asyncio.get_running_loop()))
        return {"lifespan": ctx.lifespan}

    @hatchet.task(name="sync-sees-lifespan")
    def sync_sees(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"lifespan": ctx.lifespan}

    with hatchet.worker("w", slots=1, workflows=[sees, sync_sees], lifespan=lifespan):
        assert sees.run() == {"lifespan": "resource"}
        assert sync_sees.run() == {"lifespan": "resource"}
    assert len(loops) == 3 and len(set(loops)) == 1


async def test_without_a_lifespan_ctx_lifespan_is_none(hatchet: Hatchet) -> None:
    @hatchet.task(name="no-lifespan")
    async def plain(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"lifespan": ctx.lifespan}

    async with hatchet.worker("w", slots=1, workflows=[plain]):
        assert await plain.aio_run() == {"lifespan": None}


async def test_a_lifespan_failing_before_its_yield_leaves_the_worker_stopped(
    hatchet: Hatchet,
) -> None:
    async def lifespan() -> AsyncGenerator[None, None]:
        raise OSError("database unreachable")
        yield

    @hatchet.task(name="never-served")
    async def never(input: EmptyModel, ctx: Context) -> None:
        return None

    worker = hatchet.worker("broken", slots=1, workflows=[never], lifespan=lifespan)
    with pytest.raises(LifespanSetupError, match=r"worker 'broken'.*before yielding.*unreachable"):
        async with worker:
            pass
    assert not worker.running
    assert hatchet.engine.workers() == []


async def test_a_lifespan_cleanup_failure_is_raised_once_the_worker_stopped(
    hatchet: Hatchet,
) -> None:
    async def lifespan() -> AsyncGenerator[int, None]:
        yield 1
        raise RuntimeError("pool already closed")

    @hatchet.task(name="ran-before-cleanup")
    async def ran(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"lifespan": ctx.lifespan}

    worker = hatchet.worker("leaky", slots=1, workflows=[ran], lifespan=lifespan)
    with pytest.raises(LifespanSetupError, match=r"'leaky'.*cleanup.*pool already closed"):
        async with worker:
            assert await ran.aio_run() == {"lifespan": 1}
    assert not worker.running


def test_a_lifespan_that_is_not_one_async_yield_is_refused(hatchet: Hatchet) -> None:
    @hatchet.task(name="idle")
    async def idle(input: EmptyModel, ctx: Context) -> None:
        return None

    with pytest.raises(ConfigurationError, match=r"lifespan=\.\.\.\): expected an async gen"):
        hatchet.worker("w", workflows=[idle], lifespan="not callable")  # type: ignore[arg-type]

    def plain() -> dict[str, int]:
        return {}

    worker = hatchet.worker("w", workflows=[idle], lifespan=plain)  # type: ignore[arg-type]
    with pytest.raises(LifespanSetupError, match="returned dict, not an async generator"), worker:
        pass

    async def twice() -> AsyncGenerator[int, None]:
        yield 1
        yield 2

    with (
        pytest.raises(LifespanSetupError, match="yielded a second time"),
        hatchet.worker("w", workflows=[idle], lifespan=twice),
    ):
        pass

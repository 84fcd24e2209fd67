"""Dependency injection (``Annotated[T, Depends(fn)]`` task parameters), on every backend:
each attempt resolves its dependencies on the worker's loop, enters the context managers
among them, and exits those after the task, last first."""

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from flowsim import Context, Depends, FailedTaskRunExceptionGroup, Hatchet
from flowsim.errors import InvalidDependencyError


class Query(BaseModel):
    table: str


async def settings(input: Query, ctx: Context) -> dict[str, str]:
    return {"dsn": f"db/{input.table}"}


def client(input: Query, ctx: Context, config: Annotated[dict[str, str], Depends(settings)]) -> str:
    return f"client({config['dsn']}) on {threading.current_thread().name}"


async def test_a_task_gets_its_dependencies_and_theirs(hatchet: Hatchet) -> None:
    @hatchet.task(name="injected", input_validator=Query)
    async def injected(
        input: Query,
        ctx: Context,
        config: Annotated[dict[str, str], Depends(settings)],
        made: Annotated[str, Depends(client)],
    ) -> dict[str, Any]:
        return {"config": config, "client": made}

    async with hatchet.worker("w", slots=1, workflows=[injected]):
        result = await injected.aio_run(Query(table="orders"))
    assert result["config"] == {"dsn": "db/orders"}
    # a sync dependency function runs off the loop, as hatchet_sdk's do
    assert result["client"].startswith("client(db/orders) on ")
    assert not result["client"].endswith(threading.main_thread().name)


async def test_context_managers_are_entered_before_the_task_and_exited_after_it_last_first(
    hatchet: Hatchet,
) -> None:
    log: list[str] = []

    @asynccontextmanager
    async def session(input: Query, ctx: Context) -> AsyncIterator[str]:
        log.append("open session")
        yield "session"
        log.append("close session")

    def lock(input: Query, ctx: Context) -> Any:
        @contextmanager
        def held() -> Iterator[str]:
            log.append("take lock")
            yield "lock"
            log.append("release lock")

        return held()

    @hatchet.task(name="managed", input_validator=Query, retries=1)
    async def managed(
        input: Query,
        ctx: Context,
        db: Annotated[str, Depends(session)],
        guard: Annotated[str, Depends(lock)],
    ) -> dict[str, str]:
        log.append(f"task with {db} and {guard}")
        if ctx.retry_count == 0:
            raise RuntimeError("first attempt fails")
        return {"db": db}

    async with hatchet.worker("w", slots=1, workflows=[managed]):
        assert await managed.aio_run(Query(table="t")) == {"db": "session"}
    attempt = ["open session", "take lock", "task with session and lock", "release lock",
               "close session"]  # fmt: skip
    assert log == attempt + attempt  # exited after the failed attempt too


def test_a_sync_task_gets_dependencies_resolved_on_the_loop(hatchet: Hatchet) -> None:
    @hatchet.task(name="sync-injected", input_validator=Query)
    def sync_injected(
        input: Query, ctx: Context, config: Annotated[dict[str, str], Depends(settings)]
    ) -> dict[str, str]:
        return config

    with hatchet.worker("w", slots=1, workflows=[sync_injected]):
        assert sync_injected.run(Query(table="users")) == {"dsn": "db/users"}


async def test_a_failing_dependency_fails_the_attempt_and_is_retried(hatchet: Hatchet) -> None:
    calls: list[int] = []

    async def flaky(input: Query, ctx: Context) -> str:
        calls.append(ctx.retry_count)
        raise ConnectionError("config service down")

    @hatchet.task(name="needs-flaky", input_validator=Query, retries=1)
    async def needs(input: Query, ctx: Context, value: Annotated[str, Depends(flaky)]) -> None:
        raise AssertionError("never called: its dependency failed")

    async with hatchet.worker("w", slots=1, workflows=[needs]):
        with pytest.raises(FailedTaskRunExceptionGroup) as caught:
            await needs.aio_run(Query(table="t"))
    (error,) = caught.value.exceptions
    assert error.exc_type == "ConnectionError" and "config service down" in error.exc
    assert calls == [0, 1]


def test_bad_dependencies_are_refused_when_defined(hatchet: Hatchet) -> None:
    def one_parameter(input: Query) -> str:
        return ""

    with pytest.raises(InvalidDependencyError, match="at least two parameters, the task's input"):
        Depends(one_parameter)

    def ping(input: Query, ctx: Context, other: Annotated[str, Depends(settings)]) -> str:
        return ""

    def pong(input: Query, ctx: Context, other: Annotated[str, Depends(ping)]) -> str:
        return ""

    ping.__annotations__["other"] = Annotated[str, Depends(pong)]  # close the cycle

    with pytest.raises(InvalidDependencyError, match="circular dependency: pong -> ping -> pong"):

        @hatchet.task(name="cyclic")
        async def cyclic(input: Query, ctx: Context, x: Annotated[str, Depends(pong)]) -> None:
            return None

"""Streaming: ``ctx.put_stream`` in a task, ``hatchet.runs.subscribe_to_stream`` in the
caller, with Hatchet's delivery rules, on every backend."""

import asyncio
import threading

import pytest

from flowsim import (
    Context,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    RunNotFoundError,
    SlotDeadlockError,
)
from tests.helpers import eventually


async def _collect(hatchet: Hatchet, run_id: str, heard: threading.Event) -> list[str]:
    chunks = []
    async for chunk in hatchet.runs.subscribe_to_stream(run_id):
        chunks.append(chunk)
        heard.set()
    return chunks


async def test_a_subscriber_gets_what_is_put_while_it_listens_in_order_until_the_run_ends(
    hatchet: Hatchet,
) -> None:
    """The task streams "early" before anyone listens, then pings until the subscriber
    has heard one, then three words: the subscriber gets a gapless run of pings and the
    words, never "early", and its loop ends when the run does."""
    early_put, heard = threading.Event(), threading.Event()

    @hatchet.task(name="streamer")
    async def streamer(input: EmptyModel, ctx: Context) -> dict[str, int]:
        await ctx.aio_put_stream("early")
        early_put.set()
        pings = 0
        while not heard.is_set():
            await ctx.aio_put_stream(f"ping {pings}")
            pings += 1
            await asyncio.sleep(0.01)
        for word in ("alpha", "beta", "gamma"):
            await ctx.aio_put_stream(word)
        return {"pings": pings}

    async with hatchet.worker("w", slots=1, workflows=[streamer]):
        ref = await streamer.aio_run(wait_for_result=False)
        await eventually(early_put.is_set)
        chunks = await asyncio.wait_for(_collect(hatchet, ref.workflow_run_id, heard), 30)
        result = await ref.aio_result()

    assert chunks[-3:] == ["alpha", "beta", "gamma"]
    pings = [int(chunk.removeprefix("ping ")) for chunk in chunks[:-3]]
    assert pings and pings == list(range(pings[0], result["pings"]))
    assert "early" not in chunks


async def test_a_run_that_already_ended_streams_nothing(hatchet: Hatchet) -> None:
    @hatchet.task(name="finished-streamer")
    async def streamer(input: EmptyModel, ctx: Context) -> None:
        ctx.put_stream("said before anyone listened")

    async with hatchet.worker("w", slots=1, workflows=[streamer]):
        ref = await streamer.aio_run(wait_for_result=False)
        await ref.aio_result()
        assert [c async for c in hatchet.runs.subscribe_to_stream(ref.workflow_run_id)] == []


async def test_sync_tasks_stream_too_and_bytes_arrive_as_text(hatchet: Hatchet) -> None:
    heard = threading.Event()

    @hatchet.task(name="sync-streamer")
    def streamer(input: EmptyModel, ctx: Context) -> None:
        while not heard.wait(0.01):  # until the subscriber hears one
            ctx.put_stream("ping")
        ctx.put_stream("plain")
        ctx.put_stream("héllo ✓".encode())
        ctx.put_stream(b"\xff bad byte")

    async with hatchet.worker("w", slots=1, workflows=[streamer]):
        ref = await streamer.aio_run(wait_for_result=False)
        chunks = await asyncio.wait_for(_collect(hatchet, ref.workflow_run_id, heard), 30)

    assert set(chunks[:-3]) == {"ping"}
    assert chunks[-3:] == ["plain", "héllo ✓", "\ufffd bad byte"]


async def test_putting_something_other_than_text_or_bytes_fails_the_attempt(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="bad-streamer")
    async def streamer(input: EmptyModel, ctx: Context) -> None:
        await ctx.aio_put_stream({"not": "text"})  # type: ignore[arg-type]

    async with hatchet.worker("w", slots=1, workflows=[streamer]):
        with pytest.raises(FailedTaskRunExceptionGroup) as caught:
            await streamer.aio_run()
    (error,) = caught.value.exceptions
    assert error.exc_type == "StreamDataError"
    assert "bad-streamer" in error.exc and "got dict" in error.exc


async def test_an_unknown_run_id_is_named(hatchet: Hatchet) -> None:
    with pytest.raises(RunNotFoundError, match=r"subscribe_to_stream\('no-such-run'\)"):
        async for _ in hatchet.runs.subscribe_to_stream("no-such-run"):
            pass


async def test_a_subscription_to_a_deadlocked_run_does_not_hang(hatchet: Hatchet) -> None:
    """The seed's deadlock, formed while the subscriber listens: the parent holds the only
    slot while it waits for its child. Whichever wait hears of it first, the stream stops:
    it raises ``SlotDeadlockError`` (its own wait for the run was told) or ends (the
    parent's wait for its child was, and the parent failed with it)."""
    heard = threading.Event()

    @hatchet.task(name="stuck-child")
    async def child(input: EmptyModel, ctx: Context) -> None:
        return None

    @hatchet.task(name="stuck-parent")
    async def parent(input: EmptyModel, ctx: Context) -> None:
        while not heard.is_set():
            await ctx.aio_put_stream("about to wait for my child")
            await asyncio.sleep(0.01)
        await child.aio_run()

    async with hatchet.worker("w", slots=1, workflows=[parent, child]):
        ref = await parent.aio_run(wait_for_result=False)
        try:
            chunks = await asyncio.wait_for(_collect(hatchet, ref.workflow_run_id, heard), 30)
        except SlotDeadlockError:
            chunks = ["about to wait for my child"]
        with pytest.raises(SlotDeadlockError):
            await ref.aio_result()
    assert set(chunks) == {"about to wait for my child"}


async def test_a_subscriber_that_stops_early_leaves_the_run_to_finish(hatchet: Hatchet) -> None:
    @hatchet.task(name="long-streamer")
    async def streamer(input: EmptyModel, ctx: Context) -> dict[str, int]:
        for i in range(50):
            await ctx.aio_put_stream(str(i))
            await asyncio.sleep(0.005)
        return {"done": 50}

    async with hatchet.worker("w", slots=1, workflows=[streamer]):
        ref = await streamer.aio_run(wait_for_result=False)
        async for _ in hatchet.runs.subscribe_to_stream(ref.workflow_run_id):
            break
        assert await ref.aio_result() == {"done": 50}

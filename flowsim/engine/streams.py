"""Streams: what tasks put with ``ctx.put_stream`` and a subscriber reads with
``hatchet.runs.subscribe_to_stream``, on every backend and in virtual time.

Hatchet's dispatcher hands a subscriber the stream events of the run's tasks that are put
while it listens, and hangs up when the run ends; a run that already ended gives nothing,
and chunks put before the subscription began are not delivered (Hatchet's own streaming
example sleeps before it streams, "to avoid race conditions"). flowsim keeps the chunks in
the run's store, numbered per run (``RunStore.put_stream``): a subscription starts after
the position stored when it begins and reads on, in the order the chunks were stored,
until the run ends. Waiting for that end is the engine's ordinary wait for a run, so a
subscription to a run that can never finish (a slot deadlock, no worker) raises what
``aio_result()`` would raise instead of hanging.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from flowsim.errors import StreamDataError

if TYPE_CHECKING:
    from flowsim.engine.engine import Engine
    from flowsim.store.records import WorkflowRun


def stream_text(data: object, where: str) -> str:
    """What a subscriber receives for ``data``: Hatchet sends the bytes of a str as UTF-8
    and hands subscribers text, so bytes arrive decoded (undecodable bytes as U+FFFD)."""
    if isinstance(data, str):
        return data
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data).decode("utf-8", errors="replace")
    raise StreamDataError(
        f"{where}: put_stream takes str or bytes, got {type(data).__name__}; "
        "encode the value first (json.dumps(value) for structured data)"
    )


async def subscribe(engine: Engine, run: WorkflowRun) -> AsyncGenerator[str, None]:
    """The data of every chunk the run's tasks put from now until the run ends."""
    run_id = run.id
    if run.status.is_terminal:
        return
    after = await engine.aio_stream_position(run_id)
    ended = asyncio.ensure_future(engine.wait(run))
    try:
        while True:
            seen = engine.stream_signal.generation
            finished = ended.done()
            if finished:
                ended.result()  # a run that can never end raises here
            for chunk in await engine.aio_read_stream(run_id, after):
                after = chunk.position
                yield chunk.data
            if finished:  # read after the end was seen: nothing put before it is left
                return
            changed = asyncio.ensure_future(engine.stream_signal.changed_since(seen))
            try:
                await asyncio.wait((ended, changed), return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
    finally:
        ended.cancel()
        if ended.done() and not ended.cancelled():
            ended.exception()  # seen: a subscriber that stopped early does not care

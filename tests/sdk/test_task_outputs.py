"""What a task may return: hatchet_sdk's runner serializes the output and refuses what
Hatchet cannot store, failing the task with ``IllegalTaskOutputError``."""

from __future__ import annotations

from typing import Any

import pytest

from flowsim import Context, EmptyModel, FailedTaskRunExceptionGroup, Hatchet


async def test_an_output_holding_the_null_character_fails_the_task_as_in_hatchet(
    hatchet: Hatchet,
) -> None:
    """hatchet_sdk's runner refuses an output with ``\\u0000`` (Postgres cannot store it in
    JSON) with ``IllegalTaskOutputError``; here too, on every backend, before any write."""

    @hatchet.task(name="null-char", retries=0)
    async def nul(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"nested": [{"text": "a\x00b"}]}

    async with hatchet.worker("null-char-worker", slots=1, workflows=[nul]):
        with pytest.raises(FailedTaskRunExceptionGroup) as raised:
            await nul.aio_run()
    (error,) = raised.value.exceptions
    assert error.exc_type == "IllegalTaskOutputError"
    assert "unicode null character" in error.exc

"""What a task may return: hatchet_sdk's runner serializes the output and refuses what
Hatchet cannot store, failing the task with ``IllegalTaskOutputError``."""

from __future__ import annotations

from typing import Any

import pytest

from flowsim import (
    Context,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    remove_null_unicode_character,
)


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


async def test_remove_null_unicode_character_makes_such_an_output_storable(
    hatchet: Hatchet,
) -> None:
    """The remedy hatchet_sdk offers, served under its name (``hatchet_sdk`` through the
    alias, or ``flowsim``): the character goes from every string, keys included, through
    dicts, lists and tuples."""

    @hatchet.task(name="null-char-removed", retries=0)
    async def cleaned(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return remove_null_unicode_character(  # type: ignore[no-any-return]
            {"k\x00": [{"text": "a\x00b"}, ("c\x00", 1)]}, replacement="?"
        )

    async with hatchet.worker("null-char-cleaned", slots=1, workflows=[cleaned]):
        assert await cleaned.aio_run() == {"k?": [{"text": "a?b"}, ["c?", 1]]}

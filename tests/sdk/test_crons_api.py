"""``hatchet.cron``: crons made, read, listed and deleted at runtime, as hatchet_sdk's
``CronClient`` does them against Hatchet's server, on every backend. They live in the
backend's store, so a cron made by one process is fired by the worker processes sharing
the store, and outlives the process that made it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
from pydantic import BaseModel

from flowsim import Context, CronNotFoundError, Hatchet, InvalidInputError
from flowsim.clock import ManualClock
from flowsim.errors import UnknownWorkflowError, WorkflowDefinitionError
from flowsim.sdk.cron_client import (
    CronWorkflowsMethod,
    CronWorkflowsOrderByField,
    WorkflowRunOrderByDirection,
)
from tests.helpers import settle


class Report(BaseModel):
    customer: str


def _report(hatchet: Hatchet, seen: list[str], name: str = "report") -> Any:
    @hatchet.task(name=name, input_validator=Report)
    async def report(input: Report, ctx: Context) -> None:
        seen.append(input.customer)

    return report


def _minutely(hatchet: Hatchet, seen: list[str], customer: str) -> Any:
    """A workflow declaring a cron for every minute, with ``customer`` as its input."""
    wf = hatchet.workflow(
        name="minutely", input_validator=Report, on_crons=["* * * * *"],
        cron_input=Report(customer=customer),
    )  # fmt: skip

    @wf.task()
    async def run(input: Report, ctx: Context) -> None:
        seen.append(input.customer)

    return wf


async def _advance(clock: ManualClock, seconds: float) -> None:
    """Move the clock in steps of a few seconds, letting the engine's loop run the timers
    each step posts (heartbeats, cron ticks, the runs they create)."""
    end = clock.now() + seconds
    while clock.now() < end:
        clock.advance(min(5.0, end - clock.now()))
        for _ in range(10):
            await settle()


def test_a_cron_is_made_read_and_listed_as_hatchets_rest_api_shows_it(hatchet: Hatchet) -> None:
    report = _report(hatchet, [])
    made = hatchet.cron.create(
        "report", "customer-a-daily", "0 12 * * *", {"customer": "a"}, {"team": "x"}, 2
    )
    assert (made.workflow_name, made.name, made.cron, made.input) == (
        "report", "customer-a-daily", "0 12 * * *", {"customer": "a"}
    )  # fmt: skip
    assert (made.additional_metadata, made.priority, made.enabled) == ({"team": "x"}, 2, True)
    assert made.method is CronWorkflowsMethod.API
    assert made.workflow_id == report.id
    assert hatchet.cron.get(made.metadata.id) == made
    listed = hatchet.cron.list()
    assert listed.rows == [made]
    assert listed.pagination is not None
    assert (listed.pagination.current_page, listed.pagination.num_pages) == (1, 1)
    # a workflow's create_cron makes the same kind of cron
    other = report.create_cron("customer-b-daily", "0 13 * * *", Report(customer="b"))
    assert hatchet.cron.get(other.metadata.id).input == {"customer": "b"}
    assert [row.name for row in hatchet.cron.list().rows or []] == [
        "customer-b-daily", "customer-a-daily"
    ]  # fmt: skip


def test_bad_crons_are_refused_saying_what_to_do_and_nothing_is_stored(hatchet: Hatchet) -> None:
    _report(hatchet, [])
    made = hatchet.cron.create("report", "daily", "0 12 * * *", {"customer": "a"})
    with pytest.raises(InvalidInputError, match="name-expression pair already exists") as raised:
        hatchet.cron.create("report", "daily", "0 12 * * *", {"customer": "b"})
    assert made.metadata.id in str(raised.value)
    hatchet.cron.create("report", "daily", "0 18 * * *", {"customer": "a"})  # another time
    with pytest.raises(InvalidInputError, match="cron name is required"):
        hatchet.cron.create("report", "", "0 12 * * *", {"customer": "a"})
    with pytest.raises(WorkflowDefinitionError, match="five fields"):
        hatchet.cron.create("report", "bad", "every day at noon", {"customer": "a"})
    with pytest.raises(WorkflowDefinitionError, match="six with seconds first"):
        hatchet.cron.create("report", "a-year", "0 0 12 * * * 2030", {"customer": "a"})
    with pytest.raises(WorkflowDefinitionError, match=r"'MON'.*hatchet_sdk's CronClient"):
        hatchet.cron.create("report", "mondays", "0 12 * * MON", {"customer": "a"})
    with pytest.raises(InvalidInputError, match="customer"):
        hatchet.cron.create("report", "no-input", "0 12 * * *", {})
    with pytest.raises(UnknownWorkflowError, match="nowhere"):
        hatchet.cron.create("nowhere", "daily", "0 12 * * *", {})
    assert len(hatchet.cron.list().rows or []) == 2
    with pytest.raises(CronNotFoundError, match=r"cron\.metadata\.id"):
        hatchet.cron.get("00000000-0000-4000-8000-000000000000")


def test_list_selects_orders_and_pages_as_hatchets_server_does(hatchet: Hatchet) -> None:
    report, digest = _report(hatchet, []), _report(hatchet, [], name="digest")
    for name in ("one", "two", "three"):
        report.create_cron(name, "0 12 * * *", Report(customer=name), {"tier": "gold"})
    digest.create_cron("weekly", "0 8 * * 1", Report(customer="d"), {"tier": 1})

    def names(**options: Any) -> list[str | None]:
        return [row.name for row in hatchet.cron.list(**options).rows or []]

    assert names() == ["weekly", "three", "two", "one"]  # newest first
    assert names(order_by_direction=WorkflowRunOrderByDirection.ASC) == [
        "one", "two", "three", "weekly"
    ]  # fmt: skip
    by_workflow = {"order_by_field": CronWorkflowsOrderByField.NAME}
    assert names(**by_workflow, order_by_direction=WorkflowRunOrderByDirection.ASC)[0] == "weekly"
    assert names(workflow_name="report") == ["three", "two", "one"]
    assert names(workflow_id=digest.id) == ["weekly"]
    assert names(cron_name="two") == ["two"]
    # the server matches metadata as key:value text: the number 1 is not the text "1"
    assert names(additional_metadata={"tier": "gold"}) == ["three", "two", "one"]
    assert names(additional_metadata={"tier": 1}) == []
    page = hatchet.cron.list(offset=2, limit=2)
    assert [row.name for row in page.rows or []] == ["two", "one"]
    assert page.pagination is not None
    assert (page.pagination.current_page, page.pagination.next_page) == (2, 2)
    assert page.pagination.num_pages == 2
    with pytest.raises(InvalidInputError, match="limit"):
        hatchet.cron.list(limit=0)


async def test_a_cron_fires_at_each_tick_with_its_input_until_deleted(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    seen: list[str] = []
    report = _report(hatchet, seen)
    async with hatchet.worker("w", slots=1, workflows=[report]):
        cron = hatchet.cron.create("report", "minutely", "* * * * *", {"customer": "a"})
        await _advance(flowsim_clock, 120.0)
        assert seen == ["a", "a"]
        await hatchet.cron.aio_delete(cron.metadata.id)
        await _advance(flowsim_clock, 120.0)
    assert len(seen) == 2
    with pytest.raises(CronNotFoundError):
        hatchet.cron.get(cron.metadata.id)


async def test_six_fields_read_seconds_first_and_runs_carry_hatchets_cron_metadata(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    """Hatchet's ticker (gocron with seconds) reads a sixth field as seconds, first:
    ``30 */5 * * * *`` is second 30 of every fifth minute (croniter's default, seconds
    last, would make it minute 30 of every fifth hour, every second). Each run a cron
    makes carries the expression and the cron's name in its additional metadata, under
    Hatchet's keys; a declared cron has no name there."""
    ticks: list[tuple[float, dict[str, Any]]] = []

    @hatchet.task(name="half-past", input_validator=Report)
    async def stored(input: Report, ctx: Context) -> None:
        ticks.append((flowsim_clock.now(), dict(ctx.additional_metadata)))

    declared_seen: list[dict[str, Any]] = []
    wf = hatchet.workflow(name="declared", on_crons=["0 */10 * * * *"])

    @wf.task()
    async def run(input: Any, ctx: Context) -> None:
        declared_seen.append(dict(ctx.additional_metadata))

    start = flowsim_clock.now()
    async with hatchet.worker("w", slots=2, workflows=[stored, wf]):
        hatchet.cron.create("half-past", "every-5", "30 */5 * * * *", {"customer": "a"},
                            {"team": "x", "hatchet__cron_name": "mine"})  # fmt: skip
        await _advance(flowsim_clock, 660.0)
    assert [round(at - start) % 300 for at, _ in ticks] == [30, 30, 30], ticks
    assert ticks[0][1] == {
        "team": "x", "hatchet__cron_expression": "30 */5 * * * *", "hatchet__cron_name": "every-5"
    }  # fmt: skip
    assert len(declared_seen) == 1  # minute 10, second 0 (read seconds last: none by then)
    assert declared_seen[0] == {"hatchet__cron_expression": "0 */10 * * * *",
                                "hatchet__cron_name": ""}  # fmt: skip


async def test_declared_crons_are_listed_once_a_worker_registers_them_and_can_be_deleted(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    runs: list[str] = []
    wf = _minutely(hatchet, runs, "all")
    assert hatchet.cron.list().rows == []  # no worker registered it yet
    async with hatchet.worker("w", slots=1, workflows=[wf]):
        (declared,) = hatchet.cron.list().rows or []
        assert (declared.method, declared.cron, declared.input) == (
            CronWorkflowsMethod.DEFAULT, "* * * * *", {"customer": "all"}
        )  # fmt: skip
        assert hatchet.cron.get(declared.metadata.id) == declared
        hatchet.cron.delete(declared.metadata.id)
        assert hatchet.cron.list().rows == []
        await _advance(flowsim_clock, 120.0)
    assert runs == []


async def test_a_cron_another_process_makes_is_fired_by_this_ones_worker(
    hatchet: Hatchet, flowsim_backend_url: str, flowsim_clock: ManualClock
) -> None:
    """Crons live in the store: one made by another process on the same SQLite file or
    Postgres schema, while this process's worker runs, is fired here from its next
    heartbeat on; one deleted there stops here (in memory there is no other process)."""
    if flowsim_backend_url.startswith("memory"):
        pytest.skip("a memory:// backend is not shared between processes")
    seen: list[str] = []
    report = _report(hatchet, seen)

    def other_process(code: str) -> None:
        script = textwrap.dedent(f"""
            from pydantic import BaseModel
            from flowsim import Hatchet
            class Report(BaseModel):
                customer: str
            hatchet = Hatchet({flowsim_backend_url!r})
            @hatchet.task(name="report", input_validator=Report)
            def report(input: Report, ctx) -> None:
                return None
        """) + textwrap.dedent(code)
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)

    async with hatchet.worker("w", slots=1, workflows=[report]):
        other_process("""
            hatchet.cron.create("report", "minutely", "* * * * *", {"customer": "there"})
        """)
        (made,) = hatchet.cron.list().rows or []
        await _advance(flowsim_clock, 120.0)
        assert seen == ["there", "there"]
        other_process(f"hatchet.cron.delete({made.metadata.id!r})")
        await _advance(flowsim_clock, 180.0)
    assert seen == ["there", "there"]  # the next heartbeat (10 s) saw the delete


async def test_crons_stop_with_the_last_worker_serving_their_workflow(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    """A declared cron and a stored one fire only while a worker of this process serves
    their workflow: when it stops, no more runs are created, though another worker (of
    another workflow) keeps the engine running."""
    seen: list[str] = []
    wf = _minutely(hatchet, seen, "declared")
    other = _report(hatchet, [], name="other")
    wf.create_cron("stored", "* * * * *", Report(customer="stored"))
    async with hatchet.worker("keeps-running", slots=1, workflows=[other]):
        async with hatchet.worker("serves-minutely", slots=2, workflows=[wf]):
            await _advance(flowsim_clock, 60.0)
            assert sorted(seen) == ["declared", "stored"]
        created = len(hatchet.runs.views())
        await _advance(flowsim_clock, 180.0)
        assert len(hatchet.runs.views()) == created  # no run made for nobody to claim


def test_crons_are_made_and_deleted_from_a_thread_other_than_the_workers_loop(
    hatchet: Hatchet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync test's worker runs its loop on a thread of its own; a cron made or deleted
    from the test's thread is armed and disarmed on that loop (asyncio's debug mode, on
    here, raises for a timer set from another thread)."""
    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")
    wf = hatchet.workflow(name="nightly", input_validator=Report, on_crons=["0 0 * * *"],
                          cron_input=Report(customer="all"))  # fmt: skip

    @wf.task()
    def run(input: Report, ctx: Context) -> None:
        return None

    with hatchet.worker("w", slots=1, workflows=[wf]):
        made = hatchet.cron.create("nightly", "noon", "0 12 * * *", {"customer": "a"})
        (declared,) = [row for row in hatchet.cron.list().rows or [] if row.name == "0 0 * * *"]
        hatchet.cron.delete(declared.metadata.id)
        hatchet.cron.delete(made.metadata.id)
        assert hatchet.cron.list().rows == []

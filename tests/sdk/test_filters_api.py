"""``hatchet.filters``: event filters created, read, changed and deleted at runtime, as
hatchet_sdk's ``FiltersClient`` does them against Hatchet's server, on every backend."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from flowsim import FilterNotFoundError, Hatchet, InvalidInputError
from flowsim.sdk.filters_client import V1UpdateFilterRequest


def _subscriber(hatchet: Hatchet, name: str = "on-orders") -> Any:
    @hatchet.task(name=name, on_events=["order:*"])
    def record(input: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return dict(ctx.filter_payload)

    return record


def test_a_filter_is_created_read_listed_changed_and_deleted(hatchet: Hatchet) -> None:
    orders = _subscriber(hatchet)
    made = hatchet.filters.create(orders.id, "input.total > 100", "tenant-1", {"tier": "gold"})
    assert (made.workflow_id, made.scope, made.expression, made.payload) == (
        orders.id, "tenant-1", "input.total > 100", {"tier": "gold"}
    )  # fmt: skip
    assert made.is_declarative is False
    assert made.metadata.created_at == made.metadata.updated_at
    assert hatchet.filters.get(made.metadata.id) == made

    changed = hatchet.filters.update(
        made.metadata.id, V1UpdateFilterRequest(expression="input.total > 500")
    )
    assert (changed.scope, changed.expression, changed.payload) == (
        "tenant-1", "input.total > 500", {"tier": "gold"}
    )  # fmt: skip
    assert changed.metadata.updated_at >= made.metadata.updated_at
    assert hatchet.filters.get(made.metadata.id) == changed

    assert hatchet.filters.delete(made.metadata.id) == changed
    with pytest.raises(FilterNotFoundError, match=r"hatchet\.filters\.get\(.*no event filter"):
        hatchet.filters.get(made.metadata.id)
    with pytest.raises(FilterNotFoundError, match=r"hatchet\.filters\.delete"):
        hatchet.filters.delete(made.metadata.id)
    with pytest.raises(FilterNotFoundError, match=r"hatchet\.filters\.update"):
        hatchet.filters.update(made.metadata.id, V1UpdateFilterRequest(scope="x"))


def test_list_selects_by_workflow_and_scope_newest_first_with_page_numbers(
    hatchet: Hatchet,
) -> None:
    orders, refunds = _subscriber(hatchet), _subscriber(hatchet, "on-refunds")
    made = [
        hatchet.filters.create(orders.id, "true", "a", {"n": 1}),
        hatchet.filters.create(refunds.id, "true", "a", {"n": 2}),
        hatchet.filters.create(orders.id, "true", "b", {"n": 3}),
    ]
    ids = [f.metadata.id for f in made]
    listed = hatchet.filters.list()
    assert [f.metadata.id for f in listed.rows or []] == ids[::-1]
    assert listed.pagination is not None
    assert (listed.pagination.current_page, listed.pagination.num_pages) == (0, 1)
    by_workflow = hatchet.filters.list(workflow_ids=[orders.id])
    assert [f.metadata.id for f in by_workflow.rows or []] == [ids[2], ids[0]]
    by_scope = hatchet.filters.list(scopes=["a"])
    assert [f.metadata.id for f in by_scope.rows or []] == [ids[1], ids[0]]
    page = hatchet.filters.list(limit=2, offset=2)
    assert [f.metadata.id for f in page.rows or []] == [ids[0]]
    assert page.pagination is not None
    assert (page.pagination.current_page, page.pagination.next_page,
            page.pagination.num_pages) == (1, 2, 2)  # fmt: skip


async def test_the_async_forms_and_a_workflows_create_filter_do_the_same(
    hatchet: Hatchet,
) -> None:
    orders = _subscriber(hatchet)
    made = await orders.aio_create_filter("input.total > 1", "t")
    assert made.payload == {} and made.workflow_id == orders.id
    assert await hatchet.filters.aio_get(made.metadata.id) == made
    listed = await hatchet.filters.aio_list(scopes=["t"])
    assert [f.metadata.id for f in listed.rows or []] == [made.metadata.id]
    changed = await hatchet.filters.aio_update(made.metadata.id, V1UpdateFilterRequest(scope="u"))
    assert changed.scope == "u"
    assert await hatchet.filters.aio_delete(made.metadata.id) == changed
    assert (await hatchet.filters.aio_list()).rows == []


def test_bad_filters_are_refused_saying_what_to_pass_and_nothing_is_stored(
    hatchet: Hatchet,
) -> None:
    from flowsim.sdk.filters import DefaultFilter

    @hatchet.task(name="declared", on_events=["order:*"],
                  default_filters=[DefaultFilter(expression="true", scope="s")])  # fmt: skip
    def declared(input: dict[str, Any], ctx: Any) -> None:
        return None

    orders = _subscriber(hatchet)
    with pytest.raises(InvalidInputError, match=r"workflow_id must be a workflow's id"):
        hatchet.filters.create("on-orders", "true", "s")  # the name, not the id
    with pytest.raises(InvalidInputError, match=r"filter expression 'input\.items\.size\(\)"):
        hatchet.filters.create(orders.id, "input.items.size() > 2", "s")
    with pytest.raises(InvalidInputError, match="scope must be a non-empty string"):
        hatchet.filters.create(orders.id, "true", "")
    made = hatchet.filters.create(orders.id, "true", "s", {"a": [1, 2]})
    with pytest.raises(InvalidInputError, match=f"exists already.*{made.metadata.id}"):
        hatchet.filters.create(orders.id, "true", "s", {"a": [1, 2]})
    with pytest.raises(InvalidInputError, match="declared by workflow 'declared'"):
        hatchet.filters.create(declared.id, "true", "s")
    other = hatchet.filters.create(declared.id, "true", "elsewhere")
    with pytest.raises(InvalidInputError, match="declared by workflow 'declared'"):
        hatchet.filters.update(other.metadata.id, V1UpdateFilterRequest(scope="s"))
    assert hatchet.filters.delete(other.metadata.id) == other  # unchanged by the refusal
    with pytest.raises(InvalidInputError, match="filter expression"):
        hatchet.filters.update(made.metadata.id, V1UpdateFilterRequest(expression="a ="))
    assert [f.metadata.id for f in hatchet.filters.list().rows or []] == [made.metadata.id]
    assert hatchet.filters.get(made.metadata.id) == made


def test_a_filter_another_process_creates_gates_the_pushes_of_this_one(
    hatchet: Hatchet, flowsim_backend_url: str
) -> None:
    """Filters live in the store: one created by another process on the same SQLite file
    or Postgres schema acts on the pushes of this process (in memory there is none)."""
    if flowsim_backend_url.startswith("memory"):
        pytest.skip("a memory:// backend is not shared between processes")
    orders = _subscriber(hatchet)
    script = textwrap.dedent(f"""
        from flowsim import Hatchet
        hatchet = Hatchet({flowsim_backend_url!r})
        hatchet.filters.create({orders.id!r}, "input.total > 100", "t", {{"from": "there"}})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert hatchet.event.push("order:paid", {"total": 5}, scope="t").workflow_run_ids == ()
    (run_id,) = hatchet.event.push("order:paid", {"total": 500}, scope="t").workflow_run_ids
    with hatchet.worker("w", slots=1, workflows=[orders]):
        assert orders.get_run_ref(run_id).result() == {"from": "there"}

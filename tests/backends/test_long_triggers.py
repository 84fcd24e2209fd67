"""A bulk trigger that takes longer than the lease to write keeps its parent's lease.

The heartbeat runs on the engine loop, and ``aio_run_many`` writes every batch without
returning to it. Here the database is made slow (each batch of children waits before it
is written) and another worker's store sweeps expired leases between batches, as worker
processes sharing the file do: a parent whose lease lapsed mid-spawn would be re-queued,
its next batch refused as a zombie's, and the whole task run again.
"""

import time
from pathlib import Path
from typing import Any

import pytest
from flowsim_sqlite.store import open_store
from pydantic import BaseModel

from flowsim import Context, Hatchet
from flowsim.engine import engine as engine_module
from flowsim.engine.durable import DurableEngine
from flowsim.store.protocol import RunStore, RunView

LEASE_SECONDS = 0.6
#: what writing one batch of children takes on the "slow database"
BATCH_SECONDS = 0.15
BATCH = 5
CHILDREN = 40  # 8 batches: 1.2 s of spawning, twice the lease


class Fan(BaseModel):
    n: int


class Leaf(BaseModel):
    i: int


def test_a_fan_out_that_spawns_for_longer_than_the_lease_keeps_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'lease.db'}"
    monkeypatch.setenv("FLOWSIM_LEASE_SECONDS", str(LEASE_SECONDS))
    monkeypatch.setattr(engine_module, "BULK_BATCH", BATCH)
    hatchet = Hatchet(url)

    @hatchet.task(name="lease-leaf", input_validator=Leaf)
    async def leaf(input: Leaf, ctx: Context) -> dict[str, int]:
        return {"i": input.i}

    @hatchet.task(name="lease-parent", input_validator=Fan)
    async def parent(input: Fan, ctx: Context) -> dict[str, Any]:
        items = [leaf.create_bulk_run_item(Leaf(i=i)) for i in range(input.n)]
        results = await leaf.aio_run_many(items)
        return {"outputs": [result["i"] for result in results]}

    engine = hatchet.engine
    assert isinstance(engine, DurableEngine)
    assert engine.lease_seconds == LEASE_SECONDS
    store = engine.run_store
    sweeper = open_store(url)  # another worker process's view of the file
    create_runs = store.create_runs

    def slow_create_runs(*args: Any, **kwargs: Any) -> Any:
        time.sleep(BATCH_SECONDS)
        sweeper.expire(time.time())  # what the other workers' sweeps do meanwhile
        return create_runs(*args, **kwargs)

    monkeypatch.setattr(store, "create_runs", slow_create_runs)
    try:
        with hatchet.worker("lease-worker", slots=CHILDREN + 1, workflows=[parent, leaf]):
            ref = parent.run(Fan(n=CHILDREN), wait_for_result=False)
            run = _when_ended(store, ref.workflow_run_id, deadline=time.monotonic() + 20)
            if run is None:  # re-run each time its spawning outlasted the lease: stop it
                hatchet.runs.cancel(ref.workflow_run_id)
                pytest.fail("the parent did not finish: its lease lapsed while it spawned")
            result = ref.result()
        assert result == {"outputs": list(range(CHILDREN))}
        attempts = run.tasks["lease-parent"].attempts
        assert [a.outcome for a in attempts] == ["COMPLETED"], attempts  # never LOST
        assert len(store.run_ids()) == 1 + CHILDREN  # no child spawned twice
    finally:
        sweeper.close()


def _when_ended(store: RunStore, run_id: str, deadline: float) -> RunView | None:
    """The run once it has ended, or None if it has not by ``deadline`` (monotonic)."""
    while time.monotonic() < deadline:
        (run,) = store.get_runs([run_id])
        if run.status.is_terminal:
            return run
        time.sleep(0.05)
    return None

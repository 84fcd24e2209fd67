"""Placement in SQLite: worker labels, sticky pins, and the claim filter's reads.

The decisions are ``flowsim.store.placement_filter``'s; this module only answers its
questions from the file (inside the claim's ``BEGIN IMMEDIATE``, so no other process
changes a pin or a worker meanwhile). Peers and pins are read only when a task run of a
workflow with labels or a sticky strategy comes up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flowsim.placement import LabelValue, Peer
from flowsim.rules import SlotPool
from flowsim.store.placement_filter import ClaimFilter
from flowsim.store.protocol import RunRequest
from flowsim_sqlite import runs
from flowsim_sqlite.rows import SpecCache, Tx, dumps, loads

_PEERS = (
    "SELECT w.id, w.labels, w.capacity, w.workflows, "
    "(SELECT coalesce(sum(t.slot_cost), 0) FROM task_runs t "
    " WHERE t.status = 'RUNNING' AND t.worker_id = w.id AND t.pool = ?) "
    "FROM workers w WHERE w.accepting = 1 AND w.lease_expires_at > ? AND w.id != ?"
)


def set_labels(tx: Tx, worker_id: str, labels: Mapping[str, LabelValue]) -> None:
    tx.execute("UPDATE workers SET labels = ? WHERE id = ?", (dumps(dict(labels)), worker_id))


def labels_of(tx: Tx, worker_id: str) -> dict[str, LabelValue]:
    row = tx.execute("SELECT labels FROM workers WHERE id = ?", (worker_id,)).fetchone()
    return dict(loads(row[0])) if row is not None else {}


def pin(tx: Tx, run_id: str, worker_id: str) -> str:
    """Pin the run to the worker unless it is pinned already; the pin in force."""
    tx.execute(
        "INSERT INTO run_pins (run_id, worker_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (run_id, worker_id),
    )
    pinned = pinned_to(tx, run_id)
    assert pinned is not None
    return pinned


def pinned_to(tx: Tx, run_id: str) -> str | None:
    row = tx.execute("SELECT worker_id FROM run_pins WHERE run_id = ?", (run_id,)).fetchone()
    return row[0] if row is not None else None


def create_runs(
    tx: Tx,
    specs: SpecCache,
    requests: Sequence[RunRequest],
    now: float,
    parent_task_run_id: str | None,
    parent_token: int | None = None,
    inputs: Sequence[str] | None = None,
) -> runs.Created:
    """``runs.create_runs``, then children triggered with ``sticky=True`` pinned to their
    spawner's worker in the same transaction (a de-duplicated child keeps its pin)."""
    created = runs.create_runs(tx, specs, requests, now, parent_task_run_id, parent_token, inputs)
    pins = [
        (run_id, request.sticky_worker)
        for position, (run_id, request) in enumerate(zip(created.run_ids, requests, strict=True))
        if request.sticky_worker is not None and position not in created.collisions
    ]
    if pins:
        tx.executemany(
            "INSERT INTO run_pins (run_id, worker_id) VALUES (?, ?) ON CONFLICT DO NOTHING", pins
        )
    return created


def claim_filter(tx: Tx, worker_id: str, now: float) -> ClaimFilter:
    def peers(workflow: str, pool: SlotPool) -> list[Peer]:
        found = []
        for peer_id, labels, capacity, workflows, used in tx.execute(
            _PEERS, (pool.value, now, worker_id)
        ):
            slots = int(loads(capacity).get(pool.value, 0))
            if slots > 0 and workflow in loads(workflows):
                found.append(Peer(peer_id, loads(labels), slots - used))
        return found

    return ClaimFilter(
        worker_id,
        lambda: labels_of(tx, worker_id),
        now,
        peers,
        lambda run_id: pinned_to(tx, run_id),
        lambda run_id, worker: pin(tx, run_id, worker),
    )


__all__ = ["claim_filter", "create_runs", "labels_of", "pin", "pinned_to", "set_labels"]

"""Placement in Postgres: worker labels, sticky pins, and the claim filter's reads.

The decisions are ``flowsim.store.placement_filter``'s; this module answers its questions
from the database, inside the claim's transaction. A pin is an ``INSERT ... ON CONFLICT DO
NOTHING`` into ``run_pins`` followed by a read: two claimers pinning one run at once are
ordered by the primary key (the second waits for the first to commit, then reads its
pin), and no run row is locked, so a pin never waits on a completion. Peers and pins are
read only when a task run of a workflow with labels or a sticky strategy comes up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flowsim.idempotency import Collision
from flowsim.placement import LabelValue, Peer
from flowsim.rules import SlotPool
from flowsim.store.placement_filter import ClaimFilter
from flowsim.store.protocol import RunRequest, RunView
from flowsim_postgres import runs
from flowsim_postgres.rows import Conn, Session, dumps

_PEERS = """
SELECT w.id, w.labels, (w.capacity ->> %(pool)s)::int,
       (SELECT coalesce(sum(t.slot_cost), 0) FROM task_runs t
        WHERE t.status = 'RUNNING' AND t.worker_id = w.id AND t.pool = %(pool)s)
FROM workers w
WHERE w.accepting AND w.lease_expires_at > %(now)s AND w.id <> %(worker)s
  AND %(workflow)s = ANY(w.workflows) AND (w.capacity ->> %(pool)s)::int > 0
ORDER BY w.ord
"""
_PIN = "INSERT INTO run_pins (run_id, worker_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"


def set_labels(conn: Conn, worker_id: str, labels: Mapping[str, LabelValue]) -> None:
    conn.execute(
        "UPDATE workers SET labels = %s::jsonb WHERE id = %s", (dumps(dict(labels)), worker_id)
    )


def labels_of(conn: Conn, worker_id: str) -> dict[str, LabelValue]:
    row = conn.execute("SELECT labels FROM workers WHERE id = %s", (worker_id,)).fetchone()
    return dict(row[0]) if row is not None else {}


def pinned_to(conn: Conn, run_id: str) -> str | None:
    row = conn.execute("SELECT worker_id FROM run_pins WHERE run_id = %s", (run_id,)).fetchone()
    return str(row[0]) if row is not None else None


def pin(conn: Conn, run_id: str, worker_id: str) -> str:
    """Pin the run to the worker unless it is pinned already; the pin in force."""
    conn.execute(_PIN, (run_id, worker_id))
    pinned = pinned_to(conn, run_id)
    assert pinned is not None
    return pinned


def create_runs(
    session: Session,
    requests: Sequence[RunRequest],
    now: float,
    parent_task_run_id: str | None,
    parent_token: int | None = None,
) -> list[RunView | Collision]:
    """``runs.create_runs``, then children triggered with ``sticky=True`` pinned to their
    spawner's worker in the same transaction (a de-duplicated child keeps its pin)."""
    views = runs.create_runs(session, requests, now, parent_task_run_id, parent_token)
    pins = [
        (view.id, request.sticky_worker)
        for view, request in zip(views, requests, strict=True)
        if request.sticky_worker is not None and isinstance(view, RunView)
    ]
    if pins:
        with session.conn.cursor() as cursor:
            cursor.executemany(_PIN, pins)
    return views


def claim_filter(conn: Conn, worker_id: str, now: float) -> ClaimFilter:
    def peers(workflow: str, pool: SlotPool) -> list[Peer]:
        rows = conn.execute(
            _PEERS, {"pool": pool.value, "now": now, "worker": worker_id, "workflow": workflow}
        ).fetchall()
        return [Peer(peer_id, dict(labels), slots - used) for peer_id, labels, slots, used in rows]

    return ClaimFilter(
        worker_id,
        lambda: labels_of(conn, worker_id),
        now,
        peers,
        lambda run_id: pinned_to(conn, run_id),
        lambda run_id, worker: pin(conn, run_id, worker),
    )


__all__ = ["claim_filter", "create_runs", "labels_of", "pin", "pinned_to", "set_labels"]

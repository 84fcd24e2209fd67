"""Workers, their leases, recorded waits, and the snapshot a deadlock analysis reads."""

from __future__ import annotations

from collections.abc import Sequence

from flowsim.rules import RunStatus
from flowsim.store.protocol import HeldTask, QueuedTask, Snapshot, WorkerInfo
from flowsim.store.views import POOL, require_runs, worker_state
from flowsim_postgres.rows import Conn, dumps, ended_status, run_status


def register_worker(conn: Conn, info: WorkerInfo, now: float, lease_seconds: float) -> None:
    """Registering again replaces the worker's details and makes it accept work again; it
    keeps its place in the registration order."""
    conn.execute(
        "INSERT INTO workers (id, name, capacity, workflows, lease_expires_at, accepting, "
        "labels) VALUES (%s, %s, %s::jsonb, %s, %s, true, %s::jsonb) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, capacity = excluded.capacity, "
        "workflows = excluded.workflows, lease_expires_at = excluded.lease_expires_at, "
        "accepting = true, labels = excluded.labels",
        (
            info.id,
            info.name,
            dumps({pool.value: slots for pool, slots in info.capacity.items()}),
            list(info.workflows),
            now + lease_seconds,
            dumps(dict(info.labels)),
        ),
    )


_HEARTBEAT_TASKS = """
UPDATE task_runs SET lease_expires_at = %(lease)s
WHERE id IN (SELECT id FROM task_runs WHERE worker_id = %(worker)s AND status = 'RUNNING'
             ORDER BY id FOR NO KEY UPDATE)
"""


def heartbeat(conn: Conn, worker_id: str, now: float, lease_seconds: float) -> None:
    """Extend the worker's lease and those of the task runs it holds (rows locked in id
    order, as every multi-row locker does)."""
    lease = now + lease_seconds
    conn.execute("UPDATE workers SET lease_expires_at = %s WHERE id = %s", (lease, worker_id))
    conn.execute(_HEARTBEAT_TASKS, {"lease": lease, "worker": worker_id})


def stop_worker(conn: Conn, worker_id: str) -> None:
    conn.execute("UPDATE workers SET accepting = false WHERE id = %s", (worker_id,))


def set_waiting(conn: Conn, task_run_id: str, run_ids: Sequence[str]) -> None:
    """Recorded only while the task run is held (a released one waits on nothing)."""
    conn.execute(
        "UPDATE task_runs SET waiting_on = %b::text[] WHERE id = %s AND held_token IS NOT NULL",
        (list(run_ids), task_run_id),
    )


#: The queued and the held task runs are read as two queries, one per status, so that each
#: reads its partial index (``task_runs_queue``, ``task_runs_holder``): a single ``status
#: IN (...)`` matches neither index's predicate and scans the whole table, every task run
#: the store ever ran (35-41 ms a snapshot with 200,000 ended ones, 1.1-1.8 ms this way).
_ACTIVE = (
    "SELECT {columns} FROM task_runs WHERE status = 'QUEUED' "
    "UNION ALL SELECT {columns} FROM task_runs WHERE status = 'RUNNING'"
)
ACTIVE_TASKS = (
    # a task run parked for a concurrency place shows its real ready time
    _ACTIVE.format(
        columns="id, run_id, workflow, name, pool, slot_cost, status, worker_id, waiting_on, "
        "coalesce(parked_ready_at, ready_at), ord"
    )
    + " ORDER BY 11"
)
#: the status of every run with a queued or held task run, without sending their ids back
#: (such a run has not ended with its task run: ``terminal_status`` is its whole story)
ACTIVE_RUNS = f"""
SELECT r.id, r.terminal_status, bool_or(t.attempt_count > 0)
FROM runs r JOIN task_runs t ON t.run_id = r.id
WHERE r.id IN ({_ACTIVE.format(columns="run_id")})
GROUP BY r.id
"""


def snapshot(conn: Conn, now: float, awaited: Sequence[str]) -> Snapshot:
    """Live workers, held and queued task runs (in creation order) and the status of every
    run involved; the caller runs this in one REPEATABLE READ transaction."""
    worker_rows = conn.execute(
        "SELECT id, name, capacity, workflows, lease_expires_at, accepting, labels "
        "FROM workers WHERE lease_expires_at > %s ORDER BY ord",
        (now,),
    )
    task_rows = conn.cursor().execute(ACTIVE_TASKS)
    run_rows = conn.cursor().execute(ACTIVE_RUNS)
    workers = tuple(worker_state(row) for row in worker_rows.fetchall())
    held: list[HeldTask] = []
    queued: list[QueuedTask] = []
    others: list[str] = list(awaited)
    for (
        task_id,
        run_id,
        workflow,
        name,
        pool,
        cost,
        status,
        holder,
        waits,
        ready_at,
        _,
    ) in task_rows.fetchall():
        if status == "RUNNING":
            waits = tuple(waits or ())
            held.append(
                HeldTask(task_id, run_id, workflow, name, POOL[pool], cost, holder or "", waits)
            )
            others.extend(waits)
        else:
            queued.append(QueuedTask(task_id, run_id, workflow, name, POOL[pool], cost, ready_at))
    found = {
        run_id: run_status(terminal, started) for run_id, terminal, started in run_rows.fetchall()
    }
    missing = [run_id for run_id in others if run_id not in found]
    found.update(statuses(conn, missing))
    return Snapshot(now, workers, tuple(held), tuple(queued), found)


#: whether a run started matters only while it has not ended (``run_status``): an ended
#: run (most of the children a parent awaits) needs no look at its task runs; the ids go
#: in binary, since a parent may await ten thousand
_STATUSES = f"""
SELECT r.id, s.status,
       CASE WHEN s.status IS NULL THEN
           EXISTS (SELECT 1 FROM task_runs t WHERE t.run_id = r.id AND t.attempt_count > 0)
       END
FROM runs r CROSS JOIN LATERAL (SELECT {ended_status("r")} AS status) s
WHERE r.id = ANY(%b::text[])
"""


def statuses(conn: Conn, run_ids: Sequence[str]) -> dict[str, RunStatus]:
    """The status of each run; ``RunNotFoundError`` names an unknown one."""
    wanted = list(dict.fromkeys(run_ids))
    if not wanted:
        return {}
    found = {
        run_id: run_status(terminal, started)
        for run_id, terminal, started in conn.execute(
            _STATUSES,
            (wanted,),
        )
    }
    require_runs(found, wanted)
    return {run_id: found[run_id] for run_id in wanted}

"""Claiming queued task runs: FOR UPDATE SKIP LOCKED in claim order, in batches.

The queue index is read per workflow (a LATERAL subquery each, so every one is an ordered
index scan), the candidates are merged in ``rules.claim_key`` order, and Python applies the
reference's stopping rule (the first task run whose slot cost does not fit ends the batch);
rows locked but not taken are released at commit. Only task-run rows are locked, and
without waiting, so claimers never block each other or a completion.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowsim.rules import SlotPool
from flowsim.store.protocol import Claim
from flowsim_postgres.rows import Session
from flowsim_postgres.timing import release_due_retries

_CANDIDATES = """
SELECT c.id, c.slot_cost
FROM unnest(%(workflows)b::text[]) AS w(name),
LATERAL (
    SELECT t.id, t.slot_cost, t.priority, t.seq FROM task_runs t
    WHERE t.status = 'QUEUED' AND t.workflow = w.name AND t.pool = %(pool)s
      AND t.ready_at <= %(now)s
    ORDER BY t.priority DESC, t.seq
    LIMIT %(limit)s
    FOR NO KEY UPDATE SKIP LOCKED
) c
ORDER BY c.priority DESC, c.seq
LIMIT %(limit)s
"""

_TAKE = """
WITH batch AS (SELECT nextval('lease_seq') AS n),
picked AS (SELECT * FROM unnest(%(ids)b::text[]) WITH ORDINALITY AS p(id, pos)),
t AS (
    UPDATE task_runs t
    SET status = 'RUNNING', worker_id = %(worker)s, token = t.token + 1,
        held_token = t.token + 1,
        lease_expires_at = %(lease)s, lease_batch = batch.n, lease_pos = picked.pos,
        waiting_on = NULL, attempt_count = t.attempt_count + 1
    FROM picked, batch
    WHERE t.id = picked.id
    RETURNING t.id, t.run_id, t.workflow, t.name, t.pool, t.slot_cost, t.retry_count,
              t.token, t.attempt_count, t.ready_at, t.enqueued_at, picked.pos
),
a AS (
    INSERT INTO attempts (task_run_id, n, number, worker_id, queued_at, started_at, outcome)
    SELECT id, attempt_count, retry_count + 1, %(worker)s, greatest(ready_at, enqueued_at),
           %(now)s, 'RUNNING'
    FROM t
)
SELECT t.id, t.run_id, t.workflow, t.name, t.pool, t.slot_cost, t.retry_count, t.token,
       r.input, r.additional_metadata, r.parent_run_id, r.spec_digest,
       (SELECT jsonb_object_agg(p.name, coalesce(p.output, 'null'::jsonb))
        FROM task_runs p WHERE p.run_id = t.run_id AND p.status = 'COMPLETED')
FROM t JOIN runs r ON r.id = t.run_id
ORDER BY t.pos
"""


def claim(
    session: Session,
    worker_id: str,
    workflows: Sequence[str],
    pool: SlotPool,
    free: int,
    now: float,
    lease_seconds: float,
) -> list[Claim]:
    conn = session.conn
    release_due_retries(conn, now)
    if free <= 0 or not workflows:
        return []
    candidates = conn.execute(
        _CANDIDATES,
        {
            "workflows": list(dict.fromkeys(workflows)),
            "pool": pool.value,
            "now": now,
            "limit": free,
        },
    ).fetchall()
    picked: list[str] = []
    for task_id, slot_cost in candidates:
        if slot_cost > free:
            break
        free -= slot_cost
        picked.append(task_id)
    if not picked:
        return []
    lease = now + lease_seconds
    rows = conn.execute(
        _TAKE, {"ids": picked, "worker": worker_id, "lease": lease, "now": now}
    ).fetchall()
    session.specs.load(conn, [row[11] for row in rows])
    claims: list[Claim] = []
    for row in rows:
        (
            task_id,
            run_id,
            workflow,
            name,
            task_pool,
            slot_cost,
            retry_count,
            token,
            run_input,
            metadata,
            parent_run_id,
            digest,
            done,
        ) = row
        spec = session.specs.by_digest[digest].tasks[name]
        outputs = done or {}
        claims.append(
            Claim(
                task_run_id=task_id,
                run_id=run_id,
                workflow=workflow,
                task=name,
                pool=SlotPool(task_pool),
                slot_cost=slot_cost,
                retry_count=retry_count,
                token=token,
                input=run_input,
                additional_metadata=metadata,
                parent_outputs={p: outputs[p] for p in spec.parents if p in outputs},
                parent_run_id=parent_run_id,
                lease_expires_at=lease,
            )
        )
    return claims

"""Claiming queued task runs: FOR UPDATE SKIP LOCKED in claim order, in batches.

The queue index is read per workflow (a LATERAL subquery each, so every one is an ordered
index scan), the candidates are merged in ``rules.claim_key`` order, and Python applies the
reference's stopping rule (the first task run whose slot cost does not fit ends the batch);
rows locked but not taken are released at commit. Only task-run rows are locked, and
without waiting, so claimers never block each other or a completion.

Workflows with placement rules (labels, sticky) are read without locks instead, filtered
(``flowsim.store.placement_filter``), and only the rows chosen are then locked: a worker
passing over task runs meant for another worker must not hide them from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowsim.rules import SlotPool
from flowsim.store.placement_filter import MAX_SKIPPED, Deferrals, constrained
from flowsim.store.protocol import Claim
from flowsim.store.rate_screen import Picked, Placing, choose
from flowsim_postgres import placement, rate_limits
from flowsim_postgres.rows import ATTEMPT_COLUMNS, LAST_ATTEMPT, Conn, Session
from flowsim_postgres.timing import release_due_retries

_QUEUE = """
SELECT c.id, c.slot_cost, c.run_id, c.name, greatest(c.ready_at, c.enqueued_at),
       (SELECT r.spec_digest FROM runs r WHERE r.id = c.run_id), c.priority, c.seq,
       c.attempt_count
FROM unnest(%(workflows)b::text[]) AS w(name),
LATERAL (
    SELECT t.id, t.slot_cost, t.priority, t.seq, t.run_id, t.name, t.ready_at, t.enqueued_at,
           t.attempt_count
    FROM task_runs t
    WHERE t.status = 'QUEUED' AND t.workflow = w.name AND t.pool = %(pool)s
      AND t.ready_at <= %(now)s AND t.rate_wait_until IS NULL
    ORDER BY t.priority DESC, t.seq
    LIMIT %(limit)s
    {lock}
) c
ORDER BY c.priority DESC, c.seq
LIMIT %(limit)s
"""
#: the queue heads of workflows without placement rules, locked as they are read
_CANDIDATES = _QUEUE.format(lock="FOR NO KEY UPDATE SKIP LOCKED")
#: the queue of workflows with labels or a sticky strategy, read without locking: most
#: rows a claimer passes over are meant for other workers, which must not find them locked
_PLACED = _QUEUE.format(lock="")
#: the placed rows chosen, locked now (a row another claimer holds or took is left out)
_LOCK_CHOSEN = """
SELECT id FROM task_runs
WHERE id = ANY(%(ids)b::text[]) AND status = 'QUEUED' AND ready_at <= %(now)s
FOR NO KEY UPDATE SKIP LOCKED
"""

#: The new attempt is written into the task run's row (migration 0009); the attempt it
#: replaces, if the task run had one (``again``: read with the candidates, so a first
#: claim looks nothing up), moves to the attempts table first. ``earlier`` reads the rows
#: as they were before this statement (every part of it sees one snapshot).
_TAKE = f"""
WITH batch AS (SELECT nextval('lease_seq') AS n),
picked AS (
    SELECT * FROM unnest(%(ids)b::text[], %(parents)b::bool[])
        WITH ORDINALITY AS p(id, parents, pos)
),
earlier AS (
    INSERT INTO attempts (task_run_id, n, {ATTEMPT_COLUMNS})
    SELECT id, attempt_count, {LAST_ATTEMPT}
    FROM task_runs WHERE id = ANY(%(again)b::text[]) AND attempt_count > 0
),
t AS (
    UPDATE task_runs t
    SET status = 'RUNNING', worker_id = %(worker)s, token = t.token + 1,
        held_token = t.token + 1,
        lease_expires_at = %(lease)s, lease_batch = batch.n, lease_pos = picked.pos,
        waiting_on = NULL, attempt_count = t.attempt_count + 1,
        att_number = t.retry_count + 1, att_worker_id = %(worker)s,
        att_queued_at = greatest(t.ready_at, t.enqueued_at), att_started_at = %(now)s,
        att_finished_at = NULL, att_outcome = 'RUNNING', att_error = NULL
    FROM picked, batch
    WHERE t.id = picked.id
    RETURNING t.id, t.run_id, t.workflow, t.name, t.pool, t.slot_cost, t.retry_count,
              t.token, picked.pos, picked.parents
)
SELECT t.id, t.run_id, t.workflow, t.name, t.pool, t.slot_cost, t.retry_count, t.token,
       r.input, r.additional_metadata, r.parent_run_id, r.spec_digest,
       CASE WHEN t.parents THEN
           (SELECT jsonb_object_agg(p.name, coalesce(p.output, 'null'::jsonb))
            FROM task_runs p WHERE p.run_id = t.run_id AND p.status = 'COMPLETED')
       END
FROM t JOIN runs r ON r.id = t.run_id
ORDER BY t.pos
"""
#: the parents' outputs are read only for task runs whose task has parents (a fan-out
#: child has none): the lookup per row was a tenth of a 1,000-row claim's time


def _candidates(
    conn: Conn, query: str, names: list[str], pool: SlotPool, now: float, limit: int
) -> list[Any]:
    if not names:
        return []
    params = {"workflows": names, "pool": pool.value, "now": now, "limit": limit}
    return conn.execute(query, params).fetchall()


def _lock_chosen(conn: Conn, picked: list[str], read_unlocked: set[str], now: float) -> list[str]:
    """Lock the chosen rows that were read unlocked; drop those another claimer holds or
    took meanwhile (the claim takes fewer rather than wait)."""
    wanted = [task_id for task_id in picked if task_id in read_unlocked]
    if not wanted:
        return picked
    locked = {row[0] for row in conn.execute(_LOCK_CHOSEN, {"ids": wanted, "now": now})}
    return [task_id for task_id in picked if task_id not in read_unlocked or task_id in locked]


def _placed_names(session: Session, names: list[str]) -> set[str]:
    """The workflows among ``names`` with placement rules, as far as this process has seen
    their specs (a spec is seen when a run of it is created here or a row of it is read;
    a workflow first seen in a locked read is read unlocked from its next claim on)."""
    wanted = set(names)
    return {
        spec.name
        for spec in session.specs.by_digest.values()
        if spec.name in wanted and any(constrained(spec, task) for task in spec.tasks.values())
    }


class _LeftOutError(Exception):
    """Rows a placed walk took units for, then found another claimer holding: the walk is
    rolled back to its savepoint (units, parks and pins with it) and made again without
    them."""

    def __init__(self, task_ids: set[str]) -> None:
        super().__init__(f"{len(task_ids)} rate-limited task runs held by another claimer")
        self.task_ids = task_ids


def _walk(
    session: Session,
    worker_id: str,
    names: list[str],
    placed_names: set[str],
    pool: SlotPool,
    free: int,
    now: float,
    deferrals: Deferrals,
    left_out: set[str],
) -> list[Any]:
    """The rows chosen by ``choose``'s walk, in claim order, locked; rows in ``left_out``
    are not looked at."""
    conn = session.conn
    plain = [name for name in names if name not in placed_names]
    read_unlocked: set[str] = set()
    by_digest = session.specs.by_digest

    def read(limit: int) -> list[Any]:
        rows = _candidates(conn, _CANDIDATES, plain, pool, now, limit)
        if placed_names:
            placed_rows = _candidates(conn, _PLACED, sorted(placed_names), pool, now,
                                      limit + MAX_SKIPPED + len(left_out))  # fmt: skip
            placed_rows = [row for row in placed_rows if row[0] not in left_out]
            read_unlocked.update(row[0] for row in placed_rows)
            rows = sorted(rows + placed_rows, key=lambda row: (-row[6], row[7]))  # claim order
        session.specs.load(conn, list({row[5] for row in rows}))
        return rows

    filters = [placement.claim_filter(conn, worker_id, now)]

    def admit(row: Any) -> bool:
        spec = by_digest[row[5]]
        return filters[-1].admit(spec, spec.tasks[row[3]], row[2], row[4])

    screen = rate_limits.screener(session, now)
    chosen = choose(
        read,
        lambda row: Picked(row[0], row[2], by_digest[row[5]].tasks[row[3]], row[1]),
        free,
        screen,
        lambda parked: rate_limits.park(conn, parked),
        Placing(
            admit,
            lambda row: filters[-1].take(by_digest[row[5]], row[2]),
            lambda: filters[-1].exhausted,
            MAX_SKIPPED,
            lambda: filters.append(placement.claim_filter(conn, worker_id, now)),
        ),
    )
    rate_limits.finish(session, screen)
    if placed_names and chosen:
        locked = set(_lock_chosen(conn, [row[0] for row in chosen], read_unlocked, now))
        missed = {
            row[0] for row in chosen
            if row[0] not in locked and by_digest[row[5]].tasks[row[3]].rate_limits
        }  # fmt: skip
        if missed:
            raise _LeftOutError(missed)
        chosen = [row for row in chosen if row[0] in locked]
    for placed in filters:
        deferrals.add(placed.deferred_until)
    return chosen


def claim(
    session: Session,
    worker_id: str,
    workflows: Sequence[str],
    pool: SlotPool,
    free: int,
    now: float,
    lease_seconds: float,
    deferrals: Deferrals,
) -> list[Claim]:
    conn = session.conn
    release_due_retries(conn, now)
    rate_limits.release_due_unread(conn, now)
    if free <= 0 or not workflows:
        return []
    names = list(dict.fromkeys(workflows))
    by_digest = session.specs.by_digest
    placed_names = _placed_names(session, names)
    if not placed_names:
        # every row is locked as it is read: none can be lost to another claimer later
        chosen = _walk(session, worker_id, names, placed_names, pool, free, now, deferrals,
                       set())  # fmt: skip
    else:
        left_out: set[str] = set()
        while True:  # each pass leaves out at least one more row: it ends
            try:
                with conn.transaction():  # a savepoint
                    chosen = _walk(session, worker_id, names, placed_names, pool, free, now,
                                   deferrals, left_out)  # fmt: skip
                break
            except _LeftOutError as lost:
                left_out |= lost.task_ids
    picked = [row[0] for row in chosen]
    if not picked:
        return []
    lease = now + lease_seconds
    with_parents = {row[0] for row in chosen if by_digest[row[5]].tasks[row[3]].parents}
    params = {
        "ids": picked,
        # a placed row was read before it was locked: its count may have moved since
        "again": [row[0] for row in chosen if row[8] > 0 or by_digest[row[5]].name in placed_names],
        "parents": [task_id in with_parents for task_id in picked],
        "worker": worker_id,
        "lease": lease,
        "now": now,
    }
    rows = conn.execute(_TAKE, params).fetchall()
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

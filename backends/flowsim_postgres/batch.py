"""``complete_many``: many fenced completions in one transaction, in a few statements.

It is ``outcomes.complete`` applied to each item in order, and says so in how it is
built. Items of runs with one task and no concurrency limit (every fan-out child) are written
set-wise: their run
rows locked in creation order (the order ``cancel_run`` locks them in, so the two cannot
deadlock), their task runs and attempts completed by one statement fenced per row by
``held_token``, and the runs ended by another. Such a completion creates no task run, so
writing them together cannot reorder anything the claim sequence sees. Items of runs
with a DAG go through ``outcomes.complete`` one by one, after the set-wise part, in item
order, so the task runs they create take claim sequence numbers exactly as they would
one call at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowsim.store.protocol import Completion, Outcome
from flowsim_postgres.outcomes import complete
from flowsim_postgres.rows import RELEASE, Session, dumps_or_null

_LOCK_RUNS = """
SELECT t.id, r.id, r.spec_digest, r.terminal_status FROM task_runs t
JOIN runs r ON r.id = t.run_id
WHERE t.id = ANY(%b::text[])
ORDER BY r.ord
FOR NO KEY UPDATE OF r
"""

_COMPLETE = f"""
WITH u AS (
    SELECT * FROM unnest(%(ids)b::text[], %(tokens)b::bigint[], %(outputs)b::text[])
        AS u(id, token, output)
),
t AS (
    UPDATE task_runs t SET status = 'COMPLETED', output = u.output::jsonb, {RELEASE}
    FROM u WHERE t.id = u.id AND t.held_token = u.token
    RETURNING t.id, t.attempt_count, u.token
),
a AS (
    UPDATE attempts a SET finished_at = %(now)s, outcome = 'COMPLETED'
    FROM t WHERE a.task_run_id = t.id AND a.n = t.attempt_count
)
SELECT id, token FROM t
"""

_FINISH = """
UPDATE runs SET terminal_status = 'COMPLETED', finished_at = %s,
    finish_xid = pg_current_xact_id()
WHERE id = ANY(%b::text[]) AND terminal_status IS NULL
"""

REJECTED = Outcome(accepted=False)


def complete_many(session: Session, items: Sequence[Completion], now: float) -> list[Outcome]:
    conn = session.conn
    rows = conn.execute(_LOCK_RUNS, (list({item.task_run_id for item in items}),)).fetchall()
    owner: dict[str, tuple[str, bool, bool]] = {}  # task run id -> (run id, one task, ended)
    for task_id, run_id, digest, terminal_status in rows:
        spec = session.specs.get(conn, digest)
        # a run with concurrency limits frees and hands on places when it ends: that is
        # ``outcomes.complete``'s work, so it takes the one-by-one path
        plain = len(spec.tasks) == 1 and not spec.limited
        owner[task_id] = (run_id, plain, terminal_status is not None)
    # the first item per (task run, token) is the one that can apply; a repeat of it is
    # then fenced off by the first, as it would be one call at a time
    firsts: dict[tuple[str, int], int] = {}
    for index, item in enumerate(items):
        known = owner.get(item.task_run_id)
        if known is not None and known[1]:
            firsts.setdefault((item.task_run_id, item.token), index)
    batch = [items[index] for index in firsts.values()]
    written: set[tuple[str, int]] = set()
    if batch:
        params = {
            "ids": [item.task_run_id for item in batch],
            "tokens": [item.token for item in batch],
            "outputs": [dumps_or_null(item.output) for item in batch],
            "now": now,
        }
        written = {(row[0], row[1]) for row in conn.execute(_COMPLETE, params).fetchall()}
    outcomes: list[Outcome] = []
    ending: list[str] = []
    for index, item in enumerate(items):
        known = owner.get(item.task_run_id)
        if known is None:
            outcomes.append(REJECTED)
        elif not known[1]:
            outcomes.append(complete(session, item.task_run_id, item.token, item.output, now))
        elif (item.task_run_id, item.token) in written and firsts[
            (item.task_run_id, item.token)
        ] == index:
            run_id, _, ended = known
            outcomes.append(Outcome(True, () if ended else (run_id,), 0))
            if not ended:
                ending.append(run_id)
        else:
            outcomes.append(REJECTED)
    if ending:
        conn.execute(_FINISH, (now, ending))
        session.changed = True
    return outcomes

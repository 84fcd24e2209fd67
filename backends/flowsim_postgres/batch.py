"""``complete_many``: many fenced completions in one transaction, in one statement.

It is ``outcomes.complete`` applied to each item in order, and says so in how it is
built. Items of runs with one task and no concurrency limit (every fan-out child) are written
set-wise, by one statement (``_COMPLETE``) that locks the run rows of every item in creation
order (the order ``cancel_run`` locks them in, so the two cannot deadlock), then completes
those items' task runs (and the attempts their rows hold) fenced per row by ``held_token``,
and ends their runs.
Such a completion creates no task run, so writing them together cannot reorder anything the
claim sequence sees. Items of runs with a DAG or limits go through ``outcomes.complete`` one
by one, after the set-wise part, in item order, so the task runs they create take claim
sequence numbers exactly as they would one call at a time.

Which runs are plain is decided in the statement, from the spec digests this store's spec
cache knows to be plain: a worker has read the spec of every run whose task it claimed.
A run of a spec the cache does not know yet is locked but not written by the statement;
it then goes the one-by-one way, which is what the set-wise write is equivalent to.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowsim.store.protocol import Completion, Outcome
from flowsim_postgres.outcomes import complete
from flowsim_postgres.rows import RELEASE, Session, SpecCache, dumps_or_null, end_attempt

#: One round trip instead of three statements (lock, complete, finish) with two waits for
#: their results between them. The task-run update's filter needs the array of the plain
#: items' ids, which is computed once (an InitPlan) from every row of ``locked``: so all the
#: run rows are locked (in ``r.ord`` order) before that update writes its first row.
#: The run update ``f`` re-checks ``terminal_status IS NULL`` on the row version a
#: concurrent ending committed (READ COMMITTED), so it never ends a run twice; a token a
#: concurrent cancel released no longer matches ``held_token`` in ``t`` for the same reason.
_COMPLETE = f"""
WITH u AS (
    SELECT * FROM unnest(%(ids)b::text[], %(tokens)b::bigint[], %(outputs)b::text[])
        AS u(id, token, output)
),
locked AS (
    SELECT t.id AS task_id, r.id AS run_id, r.spec_digest, r.terminal_status
    FROM task_runs t JOIN runs r ON r.id = t.run_id
    WHERE t.id = ANY(%(ids)b::text[])
    ORDER BY r.ord
    FOR NO KEY UPDATE OF r
),
t AS (
    UPDATE task_runs t SET status = 'COMPLETED', output = u.output::jsonb, {RELEASE},
        {end_attempt("COMPLETED", "%(now)s")}
    FROM u
    WHERE t.id = u.id AND t.held_token = u.token AND t.id = ANY(ARRAY(
        SELECT task_id FROM locked WHERE spec_digest = ANY(%(plain)b::text[])
    ))
    RETURNING t.id, t.run_id, u.token
),
f AS (
    UPDATE runs SET terminal_status = 'COMPLETED', finished_at = %(now)s,
        finish_xid = pg_current_xact_id()
    WHERE id IN (SELECT run_id FROM t) AND terminal_status IS NULL
)
SELECT locked.task_id, locked.run_id, locked.spec_digest, locked.terminal_status, t.token
FROM locked LEFT JOIN t ON t.id = locked.task_id
"""

REJECTED = Outcome(accepted=False)


def plain_digests(specs: SpecCache) -> list[str]:
    """Digests of the known specs with one task and no concurrency limits. A run with
    limits frees and hands on places when it ends: that is ``outcomes.complete``'s work,
    so it takes the one-by-one path."""
    return [
        digest
        for digest, spec in specs.by_digest.items()
        if len(spec.tasks) == 1 and not spec.limited
    ]


def complete_many(session: Session, items: Sequence[Completion], now: float) -> list[Outcome]:
    conn = session.conn
    # the first item per (task run, token) is the one that can apply; a repeat of it is
    # then fenced off by the first, as it would be one call at a time
    firsts: dict[tuple[str, int], int] = {}
    for index, item in enumerate(items):
        firsts.setdefault((item.task_run_id, item.token), index)
    sent = [items[index] for index in firsts.values()]
    plain = plain_digests(session.specs)
    params = {
        "ids": [item.task_run_id for item in sent],
        "tokens": [item.token for item in sent],
        "outputs": [dumps_or_null(item.output) for item in sent],
        "plain": plain,
        "now": now,
    }
    rows = conn.execute(_COMPLETE, params).fetchall()
    set_wise = set(plain)
    # task run id -> (run id, written set-wise, run ended before, token written)
    owner: dict[str, tuple[str, bool, bool, int | None]] = {}
    for task_id, run_id, digest, terminal_status, token in rows:
        owner[task_id] = (run_id, digest in set_wise, terminal_status is not None, token)
    outcomes: list[Outcome] = []
    for index, item in enumerate(items):
        known = owner.get(item.task_run_id)
        if known is None:
            outcomes.append(REJECTED)
            continue
        run_id, written_here, ended, token = known
        if not written_here:
            # a DAG, limits, or a spec this store had not read: one call at a time
            outcomes.append(complete(session, item.task_run_id, item.token, item.output, now))
        elif token == item.token and firsts[(item.task_run_id, item.token)] == index:
            outcomes.append(Outcome(True, () if ended else (run_id,), 0))
            if not ended:
                session.changed = True
        else:
            outcomes.append(REJECTED)
    return outcomes

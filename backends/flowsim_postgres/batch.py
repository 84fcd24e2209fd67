"""``complete_many``: many fenced completions in one transaction, in one statement.

It is ``outcomes.complete`` applied to each item in order, and says so in how it is
built. Items of runs with one task and no concurrency limit (every fan-out child) are written
set-wise, by one statement (``_COMPLETE``) that completes those items' task runs (and the
attempts their rows hold), fenced per row by ``held_token``. Such a run ends with its task
run, and the statement writes nothing else: the task run's ``finish_xid`` says that its end
ended the run (``rows.ended_status``), so the run's own row is neither locked nor updated.
That was half the server's work per child (an update writing an entry in each of the run
table's indexes), and it leaves these completions locking task-run rows only, which no
other transaction locks before a run row (the lock order in ``outcomes``).
Such a completion creates no task run, so writing them together cannot reorder anything the
claim sequence sees. Items of runs with a DAG or limits go through ``outcomes.complete`` one
by one, after the set-wise part, in item order, so the task runs they create take claim
sequence numbers exactly as they would one call at a time.

Which runs are plain is decided in the statement, from the spec digests this store's spec
cache knows to be plain: a worker has read the spec of every run whose task it claimed.
A task run of a spec the cache does not know yet is not written by the statement; it then
goes the one-by-one way, which locks and ends its run row as a DAG's last task does.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowsim.store.protocol import Completion, Outcome
from flowsim_postgres.outcomes import complete
from flowsim_postgres.rows import RELEASE, Session, SpecCache, dumps_or_null, end_attempt

#: One round trip. A task run is written only if its attempt still holds it (``held_token``):
#: a cancel, a lost lease or a retry releases it, and a concurrent one is re-checked on the
#: row version it committed (READ COMMITTED). Held means not ended: a plain run's only task
#: run is the one that ends it, so a written item always ends its run.
_COMPLETE = f"""
WITH u AS (
    SELECT * FROM unnest(%(ids)b::text[], %(tokens)b::bigint[], %(outputs)b::text[])
        AS u(id, token, output)
),
known AS (
    SELECT t.id AS task_id, t.run_id, r.spec_digest
    FROM task_runs t JOIN runs r ON r.id = t.run_id
    WHERE t.id = ANY(%(ids)b::text[])
),
t AS (
    UPDATE task_runs t SET status = 'COMPLETED', output = u.output::jsonb, {RELEASE},
        {end_attempt("COMPLETED", "%(now)s")}, finish_xid = pg_current_xact_id()
    FROM u
    WHERE t.id = u.id AND t.held_token = u.token AND t.id = ANY(ARRAY(
        SELECT task_id FROM known WHERE spec_digest = ANY(%(plain)b::text[])
    ))
    RETURNING t.id, u.token
)
SELECT known.task_id, known.run_id, known.spec_digest, t.token
FROM known LEFT JOIN t ON t.id = known.task_id
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
    # task run id -> (run id, written set-wise, token written)
    owner: dict[str, tuple[str, bool, int | None]] = {}
    for task_id, run_id, digest, token in rows:
        owner[task_id] = (run_id, digest in set_wise, token)
    outcomes: list[Outcome] = []
    for index, item in enumerate(items):
        known = owner.get(item.task_run_id)
        if known is None:
            outcomes.append(REJECTED)
            continue
        run_id, written_here, token = known
        if not written_here:
            # a DAG, limits, or a spec this store had not read: one call at a time
            outcomes.append(complete(session, item.task_run_id, item.token, item.output, now))
        elif token == item.token and firsts[(item.task_run_id, item.token)] == index:
            outcomes.append(Outcome(True, (run_id,), 0))
            session.changed = True
        else:
            outcomes.append(REJECTED)
    return outcomes

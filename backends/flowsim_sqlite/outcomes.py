"""Results and what time alone does: complete, fail, cancel a run, expire.

``complete`` and ``fail`` are fenced by the token in their ``WHERE`` clause: a result of an
attempt that no longer holds the task run (reclaimed after its lease, cancelled, timed out)
matches no row and changes nothing. A failure's fate is ``rules.decide_after_failure``'s.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from flowsim import concurrency, rules
from flowsim.errors import TaskRunError
from flowsim.rules import RunStatus
from flowsim.store.dag import replay_now
from flowsim.store.failures import decide, lease_lost_reason, schedule_timeout_reason
from flowsim.store.protocol import Completion, Outcome
from flowsim.store.records import JSON, error_to_json
from flowsim.store.views import run_not_found, task_run_not_found
from flowsim_sqlite.claims import Taken, release_due
from flowsim_sqlite.conditions import fire_due
from flowsim_sqlite.dag import (
    LAST_FINISH_SEQ,
    REFUSED,
    REQUEUE_REPLAYED,
    Changes,
    advance,
    cancel_tasks,
    outcome,
)
from flowsim_sqlite.durable import parked_ready, release_parked
from flowsim_sqlite.places import (
    arrive,
    arrive_task,
    cancel_unit,
    late_queued,
    park,
    placed,
    settle,
)
from flowsim_sqlite.rows import SpecCache, Tx, dumps, id_list, loads
from flowsim_sqlite.workers import next_wakeup

#: ends the running (last) attempt; its finish time is bound as JSON text (json(?)),
#: which keeps every digit, where a bound REAL would be printed to 15
_END_ATTEMPT = (
    "attempts = json_replace(attempts, '$[#-1][4]', json(?), '$[#-1][5]', ?, '$[#-1][6]', ?)"
)
_RELEASE = "lease_expires_at = NULL, lease_batch = NULL, waiting_on = NULL"
_COMPLETE = (
    f"UPDATE task_runs SET status = 'COMPLETED', output = ?, {_RELEASE}, {_END_ATTEMPT} "
    "WHERE id = ? AND status = 'RUNNING' AND token = ? RETURNING run_id, spec_id"
)


def complete(
    tx: Tx, specs: SpecCache, task_run_id: str, token: int, output: JSON, now: float
) -> Changes | None:
    """``None`` when the token does not hold the task run (nothing changed)."""
    rows = tx.execute(
        _COMPLETE, (dumps(output), dumps(now), "COMPLETED", None, task_run_id, token)
    ).fetchall()
    if not rows:
        return None
    run_id, spec_id = rows[0]
    changes = Changes()
    advance(tx, specs, run_id, spec_id, RunStatus.COMPLETED, now, changes)
    settle(tx, specs, now, changes)
    return changes


_OWNERS = "SELECT id, spec_id FROM task_runs WHERE id IN (SELECT value FROM json_each(?))"
#: ``_COMPLETE`` for many ``[id, token, output text]`` at once, each row fenced by its own
#: token; the run's status says whether ``dag.finish_run`` would end it
_COMPLETE_SET = (
    f"UPDATE task_runs SET status = 'COMPLETED', output = u.output, {_RELEASE}, {_END_ATTEMPT} "
    "FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS token, "
    "json_extract(value, '$[2]') AS output FROM json_each(?)) AS u "
    "WHERE task_runs.id = u.id AND task_runs.status = 'RUNNING' AND task_runs.token = u.token "
    "RETURNING task_runs.id, task_runs.token, task_runs.run_id, "
    "(SELECT status FROM runs WHERE runs.id = task_runs.run_id)"
)
#: the runs that end, in item order: each takes the finish_seq after the last one's
_FINISH_SET = (
    "UPDATE runs SET status = 'COMPLETED', finished_at = ?, finish_seq = ? + u.key "
    "FROM json_each(?) AS u WHERE runs.id = u.value"
)


#: an accepted completion whose run had ended already (cancelled, say)
_ACCEPTED = Outcome(True)


#: an item's answer from ``complete_many``: its ``Outcome``, or the id of the run it ended
#: (``ended`` makes that one's ``Outcome`` after the commit, outside the write lock)
Answer = Outcome | str


def ended(answers: list[Answer]) -> list[Outcome]:
    return [Outcome(True, (a,)) if isinstance(a, str) else a for a in answers]


def encode_rows(items: Sequence[Completion], outputs: Sequence[str]) -> str:
    """``_COMPLETE_SET``'s parameter: ``[task run id, token, output text]`` per item."""
    pairs = zip(items, outputs, strict=True)
    return dumps([[item.task_run_id, item.token, output] for item, output in pairs])


def _complete_plain(
    tx: Tx,
    items: Sequence[Completion],
    outputs: Sequence[str],
    now: float,
    encoded: str | None = None,
) -> list[Answer]:
    """``complete`` of consecutive items whose runs have one task and no concurrency limit,
    in three statements instead of two per item. Ending such a run is ``dag.finish_run``
    alone (no task run created, no place freed), so writing them together changes nothing
    but the statement count: each row is still fenced by its own token, and the runs that
    end take the next finish_seq values in item order, as one call at a time would give
    them (the write lock is held, so the last finish_seq read here stays the last).
    ``encoded``: ``encode_rows`` of exactly these items, made before the transaction."""
    # a repeat of an item is fenced off by its first, one call at a time: only firsts apply
    firsts: dict[tuple[str, int], int] = {}
    for index, item in enumerate(items):
        firsts.setdefault((item.task_run_id, item.token), index)
    if encoded is not None and len(firsts) == len(items):
        batch = encoded  # no item repeats another: every one is in the statement
    else:
        batch = encode_rows([items[i] for i in firsts.values()],
                            [outputs[i] for i in firsts.values()])  # fmt: skip
    written = {
        (row[0], row[1]): (row[2], row[3] in ("QUEUED", "RUNNING"))
        for row in tx.execute(_COMPLETE_SET, (dumps(now), "COMPLETED", None, batch))
    }
    results: list[Answer] = []
    ending: list[str] = []
    for index, item in enumerate(items):
        key = (item.task_run_id, item.token)
        found = written.get(key)
        if found is None or firsts[key] != index:
            results.append(REFUSED)
        elif found[1]:
            ending.append(found[0])
            results.append(found[0])
        else:
            results.append(_ACCEPTED)
    if ending:
        (last,) = tx.execute(f"SELECT coalesce(({LAST_FINISH_SEQ}), 0)").fetchone()
        tx.execute(_FINISH_SET, (now, last + 1, id_list(ending)))
    return results


def complete_many(
    tx: Tx,
    specs: SpecCache,
    items: Sequence[Completion],
    outputs: Sequence[str],
    now: float,
    known: Mapping[str, int] | None = None,
    encoded: str | None = None,
) -> list[Answer]:
    """``complete`` of each item in order, in the caller's one transaction. Consecutive
    items of plain runs (one task, no concurrency limit: every fan-out child) are written
    together by ``_complete_plain``, their ``outputs`` encoded by the caller before the
    transaction began; the rest one by one, between them, in item order. ``known``: the
    spec ids of task runs the caller knows already (it claimed them); only the others are
    looked up. ``encoded``: ``encode_rows`` of all the items, made before the transaction
    began, for the usual case of one plain group (encoding them took 6% of the time this
    holds the write lock)."""
    owners = dict(known or {})
    unknown = {item.task_run_id for item in items if item.task_run_id not in owners}
    if unknown:
        owners.update(tx.execute(_OWNERS, (id_list(unknown),)).fetchall())

    def plain(index: int) -> bool:
        spec_id = owners.get(items[index].task_run_id)
        if spec_id is None:  # no such task run: refused either way
            return True
        spec = specs.spec(tx, spec_id)
        return len(spec.tasks) == 1 and not spec.limited

    results: list[Answer] = []
    for is_plain, group in itertools.groupby(range(len(items)), plain):
        run = [items[i] for i in group]
        if is_plain:
            start = len(results)
            whole = encoded if len(run) == len(items) else None
            results.extend(_complete_plain(tx, run, outputs[start : start + len(run)], now, whole))
        else:
            results.extend(
                outcome(complete(tx, specs, i.task_run_id, i.token, i.output, now)) for i in run
            )
    return results


def fail(
    tx: Tx,
    specs: SpecCache,
    task_run_id: str,
    token: int,
    error: TaskRunError,
    non_retryable: bool,
    now: float,
    retry_after: float | None = None,
) -> Changes | None:
    row = tx.execute(
        "SELECT run_id, spec_id, name, retry_count, replay_base FROM task_runs "
        "WHERE id = ? AND status = 'RUNNING' AND token = ?",
        (task_run_id, token),
    ).fetchone()
    if row is None:
        return None
    run_id, spec_id, name, retry_count, replay_base = row
    ended = (dumps(now), "FAILED", str(error))
    task = specs.spec(tx, spec_id).tasks[name]
    decision = decide(task, retry_count, non_retryable, now, retry_after, replay_base)
    changes = Changes()
    if not decision.retry:
        tx.execute(
            f"UPDATE task_runs SET status = 'FAILED', error = ?, {_RELEASE}, {_END_ATTEMPT} "
            "WHERE id = ?",
            (dumps(error_to_json(error)), *ended, task_run_id),
        )
        advance(tx, specs, run_id, spec_id, RunStatus.FAILED, now, changes)
        settle(tx, specs, now, changes)
        return changes
    seq = tx.sequence(1)
    waits = decision.ready_at > now
    tx.execute(
        "UPDATE task_runs SET status = 'QUEUED', worker_id = NULL, retry_count = ?, "
        "spawn_index = 0, priority = ?, seq = ?, enqueued_at = ?, ready_at = ?, in_backoff = ?, "
        f"deadline = ?, deadline_seq = ?, {_RELEASE}, {_END_ATTEMPT} WHERE id = ?",
        (
            decision.retry_count, rules.RETRY_PRIORITY, seq, now, decision.ready_at, int(waits),
            decision.ready_at + task.schedule_timeout, seq, *ended, task_run_id,
        ),
    )  # fmt: skip
    changes.queued = 0 if waits else 1
    return changes


#: an ended task run queued again at once by a replay (``RunStore.replay_tasks``)
_REPLAY = (
    f"UPDATE task_runs SET {REQUEUE_REPLAYED}, status = 'QUEUED', priority = ?, seq = ?, "
    "enqueued_at = ?, ready_at = ?, in_backoff = 0, deadline = ? + schedule_timeout, "
    "deadline_seq = ? WHERE id = ? AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')"
)


def replay_tasks(tx: Tx, specs: SpecCache, task_run_ids: Sequence[str], now: float) -> Changes:
    """Each ended task run named replayed, run by run in the order first named: queued
    at once, or (a DAG parent of it replayed too) marked to wait for its parents
    (``dag.replay_now``); its run no longer ended (QUEUED: a reader sees RUNNING once
    it has an attempt, ``rows.RUN_STATUS``). With concurrency limits the replay arrives
    in its groups as a newcomer, as the in-memory store's ``replay_run`` says."""
    found = {
        row[0]: row
        for row in tx.execute(
            "SELECT id, run_id, spec_id, name, status FROM task_runs "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (id_list(task_run_ids),),
        )
    }
    for task_run_id in task_run_ids:
        if task_run_id not in found:
            raise task_run_not_found(task_run_id)
    by_run: dict[str, tuple[int, dict[str, str]]] = {}
    for task_run_id in task_run_ids:
        _, run_id, spec_id, name, status = found[task_run_id]
        ids = by_run.setdefault(run_id, (spec_id, {}))[1]
        if RunStatus(status).is_terminal:
            ids[name] = task_run_id
    changes = Changes()
    for run_id, (spec_id, ids) in by_run.items():
        if not ids:
            continue
        spec = specs.spec(tx, spec_id)
        at_once = replay_now(spec, ids)
        later = [task_id for name, task_id in ids.items() if name not in at_once]
        tx.execute(
            "UPDATE task_runs SET replay_pending = 1 WHERE id IN (SELECT value FROM json_each(?))",
            (id_list(later),),
        )
        # finish_seq stays: the run's next end takes one above it (were it cleared, the
        # next could reuse it, and a reader past it would miss that end)
        tx.execute("UPDATE runs SET status = 'QUEUED', finished_at = NULL WHERE id = ?", (run_id,))
        given = _limited_input(tx, run_id) if spec.limited else None
        plan = None
        if given is not None and spec.concurrency and not placed(tx, run_id):
            gates = concurrency.run_gates(spec, *given)
            plan = arrive(tx, specs, run_id, run_id, gates, tx.sequence(1), now, changes)
        cancel_run = plan is not None and plan.cancel_new
        for name in at_once:
            seq = tx.sequence(1)
            tx.execute(_REPLAY, (rules.RETRY_PRIORITY, seq, now, now, now, seq, ids[name]))
            if given is not None and not cancel_run and spec.tasks[name].concurrency:
                arrive_task(tx, specs, (ids[name], run_id, spec_id, name, seq), given, now,
                            changes)  # fmt: skip
        if plan is not None and not plan.admit and not cancel_run:
            park(tx, [ids[name] for name in at_once])
        if cancel_run:
            cancel_unit(tx, specs, run_id, now, changes)
        if given is not None:
            changes.limited_runs.add(run_id)
        changes.queued += len(at_once)
    settle(tx, specs, now, changes)
    return changes


def _limited_input(tx: Tx, run_id: str) -> tuple[JSON, JSON]:
    """A run's input and additional metadata, which its concurrency keys are read from."""
    input_text, metadata_text = tx.execute(
        "SELECT input, additional_metadata FROM runs WHERE id = ?", (run_id,)
    ).fetchone()
    return loads(input_text), loads(metadata_text)


#: the queued and running task runs of a run and of every run it spawned, at any depth, in
#: creation order. A child's spawn key starts with its spawning task run's id and a dot
#: (``rules.child_spawn_key``), so each level is a range of the spawn key's index (BINARY
#: collation: ``.`` then ``/`` bound the prefix). Joining on ``parent_run_id``, which no
#: index covers, read every run the file ever held at each level (54 ms a cancel with
#: 200,000 runs); an index on it would cost each created child ~5% of a fan-out.
FAMILY_TASKS = """
WITH RECURSIVE family(id) AS (
    SELECT ?
    UNION
    SELECT c.id FROM family f JOIN task_runs p ON p.run_id = f.id
    JOIN runs c ON c.spawn_key >= p.id || '.' AND c.spawn_key < p.id || '/'
)
SELECT t.id, t.run_id, t.spec_id FROM task_runs t JOIN runs r ON r.id = t.run_id
WHERE t.run_id IN (SELECT id FROM family) AND t.status IN ('QUEUED', 'RUNNING')
ORDER BY r.rowid, t.rowid
"""


def cancel_run(tx: Tx, specs: SpecCache, run_id: str, reason: str, now: float) -> Changes:
    if tx.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
        raise run_not_found(run_id)
    rows = tx.execute(FAMILY_TASKS, (run_id,)).fetchall()
    changes = Changes()
    cancel_tasks(tx, specs, rows, [reason] * len(rows), now, changes, fence=True)
    settle(tx, specs, now, changes)
    return changes


def expire_due(tx: Tx, now: float) -> bool:
    """Whether ``expire`` would find anything to do at ``now``, read without writing: a
    clock that has run out (backoff, schedule deadline, lease, rate-limit refill; see
    ``workers.next_wakeup``) or a parked durable task run whose awaited runs all ended."""
    due = next_wakeup(tx, now)
    return (due is not None and due <= now) or parked_ready(tx)


def expire(tx: Tx, specs: SpecCache, now: float) -> Changes:
    """Release due retries, cancel what waited past its schedule deadline, and re-queue
    what a dead worker held (a new attempt, no retry consumed, spawn index 0)."""
    changes = Changes()
    fire_due(tx, specs, now, changes)  # first, as the in-memory store does
    changes.queued += release_due(tx, now) + release_parked(tx, now)
    settle(tx, specs, now, changes)  # what conditions ended or queued frees or waits
    late = late_queued(tx, now)
    if late:
        reasons = [schedule_timeout_reason(row[3]) for row in late]
        cancel_tasks(tx, specs, [row[:3] for row in late], reasons, now, changes, fence=False)
        settle(tx, specs, now, changes)  # before re-queued attempts take their sequences
    lost = tx.execute(
        "SELECT id, worker_id, schedule_timeout FROM task_runs "
        "WHERE status = 'RUNNING' AND lease_expires_at <= ? "
        "ORDER BY lease_expires_at, lease_batch, priority DESC, seq",
        (now,),
    ).fetchall()
    if lost:
        first = tx.sequence(len(lost))
        ended = dumps(now)
        tx.executemany(
            "UPDATE task_runs SET status = 'QUEUED', worker_id = NULL, spawn_index = 0, "
            "seq = ?, enqueued_at = ?, ready_at = ?, deadline = ?, deadline_seq = ?, "
            f"{_RELEASE}, {_END_ATTEMPT} WHERE id = ?",
            [
                (
                    first + i, now, now, now + timeout, first + i, ended, "LOST",
                    lease_lost_reason(worker), task_id,
                )
                for i, (task_id, worker, timeout) in enumerate(lost)
            ],
        )  # fmt: skip
        changes.queued += len(lost)
    return changes


def give_back(tx: Tx, specs: SpecCache, taken: list[Taken], now: float) -> Changes:
    """What a claim took and committed but could not read back (``claims.build``
    failed), queued again as lost attempts (no retry used), as a dead worker's are: left
    held, they would stay leased to this worker, whose heartbeats renew every task run
    it holds, and nothing would run them."""
    tx.execute(
        "UPDATE task_runs SET lease_expires_at = ? FROM json_each(?) AS u "
        "WHERE task_runs.id = json_extract(u.value, '$[0]') "
        "AND task_runs.token = json_extract(u.value, '$[1]') AND status = 'RUNNING'",
        (now, dumps([[row[0], row[6]] for row in taken])),
    )
    return expire(tx, specs, now)

"""Claiming: the queue read in claim order, then one conditional ``UPDATE ... RETURNING``.

The whole claim runs inside ``BEGIN IMMEDIATE``, which holds SQLite's single write lock
from the first read, so two processes claiming from one file are serialised and can never
take the same task run; the ``status = 'QUEUED'`` condition on the update makes that
visible in the statement itself. Each workflow's queue is read through the partial index
``task_runs_queue`` (O(log n) to its head, at most ``free`` rows), and the heads are merged
in ``rules.claim_key`` order here, stopping at the first whose slot cost does not fit; a
rate-limited one is admitted or parked on the way (``flowsim.store.rate_screen.choose``).
What the claims carry besides (inputs, metadata, a DAG task's parents' outputs) never
changes once written, so ``build`` reads it after the commit, without the write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowsim.rules import SlotPool
from flowsim.store.placement_filter import MAX_SKIPPED, Deferrals
from flowsim.store.protocol import Claim
from flowsim.store.rate_screen import Picked, Placing, choose
from flowsim.store.records import JSON
from flowsim.store.views import load_all
from flowsim_sqlite import placement, rate_limits
from flowsim_sqlite.rows import (
    SpecCache,
    Tx,
    attempts_json,
    dumps,
    id_list,
    load_optional,
    loads,
)

#: a task run taken by ``claim``: id, run id, spec id, task name, slot cost, retry count,
#: fencing token, lease expiry; ``build`` reads the rest of its ``Claim`` after the commit
Taken = tuple[str, str, int, str, int, int, int, float]

_CANDIDATES = (
    "SELECT id, run_id, name, spec_id, slot_cost, priority, seq, retry_count, ready_at, "
    "enqueued_at, token FROM task_runs "
    "WHERE status = 'QUEUED' AND in_backoff = 0 AND workflow = ? AND pool = ? "
    "AND rate_wait_until IS NULL ORDER BY priority DESC, seq LIMIT ?"
)
#: a compare-and-set per task run, for all of them in one statement: each applies only if
#: the row is still queued with the token read above (certain under the write lock, and
#: checked by the row count). The new attempt is JSON text built here, since SQLite would
#: print a bound REAL to 15 digits.
_TAKE = (
    "UPDATE task_runs SET status = 'RUNNING', worker_id = ?, token = task_runs.token + 1, "
    "lease_expires_at = ?, lease_batch = ?, "
    "attempts = json_insert(attempts, '$[#]', json(u.attempt)) "
    "FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS token, "
    "json_extract(value, '$[2]') AS attempt FROM json_each(?)) AS u "
    "WHERE task_runs.id = u.id AND status = 'QUEUED' AND in_backoff = 0 "
    "AND task_runs.token = u.token"
)
#: what the claims carry of their runs, read by ``build`` after the claim committed: none
#: of it changes once a run exists, and reading and decoding it took a fifth of a claim's
#: time under the write lock. A claim does not write the run row either: a run is RUNNING
#: once a task run of it was claimed, which the readers derive (``rows.RUN_STATUS``) from
#: its task runs' attempts, as Postgres does.
_RUNS_OF_CLAIMS = (
    "SELECT id, input, additional_metadata, parent_run_id FROM runs "
    "WHERE id IN (SELECT value FROM json_each(?))"
)


def release_due(tx: Tx, now: float) -> int:
    """Retries whose backoff ended become claimable; their schedule clocks start at their
    ready times, in (ready time, sequence) order. Returns how many were released."""
    due = tx.execute(
        "SELECT id FROM task_runs WHERE status = 'QUEUED' AND in_backoff = 1 AND ready_at <= ? "
        "ORDER BY ready_at, seq",
        (now,),
    ).fetchall()
    refilled = rate_limits.release_due(tx, now)
    if not due:
        return refilled
    first = tx.sequence(len(due))
    tx.executemany(
        "UPDATE task_runs SET in_backoff = 0, deadline_seq = ? WHERE id = ?",
        [(first + offset, task_id) for offset, (task_id,) in enumerate(due)],
    )
    return len(due) + refilled


def _heads(tx: Tx, names: list[str], pool: SlotPool, limit: int) -> list[Any]:
    heads: list[Any] = []
    for name in names:
        heads.extend(tx.execute(_CANDIDATES, (name, pool.value, limit)).fetchall())
    if len(names) > 1:
        heads.sort(key=lambda row: (-row[5], row[6]))  # rules.claim_key across workflows
    # the first ``limit`` heads of the merged queue, as Postgres's outer LIMIT: each
    # workflow's read may return ``limit``, and a walk that parks rate-limited rows must
    # not see heads of one workflow beyond another's unread ones (it would take a later
    # row and leave an earlier one unvisited, which the reference walks in claim order)
    return heads[:limit]


def _walk_plain(tx: Tx, specs: SpecCache, heads: list[Any], free: int) -> list[Any] | None:
    """The heads ``choose`` takes when none of them has rate limits, desired labels or a
    sticky strategy: every head is then admitted and taken, so its walk is the heads in
    claim order up to the first whose slot cost does not fit. None when one of them has
    any (the full walk decides). Fan-out children are all plain; walking them here saves
    the walk's per-head callbacks."""
    chosen = []
    left = free
    for row in heads:
        spec = specs.spec(tx, row[3])
        task = spec.tasks[row[2]]
        if task.rate_limits or task.desired_labels or spec.sticky is not None:
            return None
        if row[4] > left:
            break
        chosen.append(row)
        left -= row[4]
    return chosen


def _walk(
    tx: Tx,
    specs: SpecCache,
    worker_id: str,
    names: list[str],
    pool: SlotPool,
    free: int,
    now: float,
    deferrals: Deferrals,
) -> list[Any]:
    """``choose``'s walk with rate limits and placement."""
    filters = [placement.claim_filter(tx, worker_id, now)]

    def admit(row: Any) -> bool:
        spec = specs.spec(tx, row[3])
        return filters[-1].admit(spec, spec.tasks[row[2]], row[1], max(row[8], row[9]))

    screen = rate_limits.screener(tx, now)
    chosen = choose(
        lambda limit: _heads(tx, names, pool, limit),
        lambda row: Picked(row[0], row[1], specs.spec(tx, row[3]).tasks[row[2]], row[4]),
        free,
        screen,
        lambda parked: rate_limits.park(tx, parked),
        Placing(
            admit,
            lambda row: filters[-1].take(specs.spec(tx, row[3]), row[1]),
            lambda: filters[-1].exhausted,
            MAX_SKIPPED,
            lambda: filters.append(placement.claim_filter(tx, worker_id, now)),
        ),
    )
    rate_limits.finish(tx, screen)
    for placed in filters:
        deferrals.add(placed.deferred_until)
    return chosen


def claim(
    tx: Tx,
    specs: SpecCache,
    worker_id: str,
    workflows: Sequence[str],
    pool: SlotPool,
    free: int,
    now: float,
    lease_seconds: float,
    deferrals: Deferrals,
) -> list[Taken]:
    """The task runs taken, in claim order: ``build`` makes them claims once the
    transaction committed."""
    release_due(tx, now)
    if free <= 0:
        return []
    names = list(dict.fromkeys(workflows))
    chosen = _walk_plain(tx, specs, _heads(tx, names, pool, free), free)
    if chosen is None:
        chosen = _walk(tx, specs, worker_id, names, pool, free, now, deferrals)
    if not chosen:
        return []
    lease = now + lease_seconds
    batch = tx.sequence(1)
    attempt = attempts_json(worker_id, now)
    taken = tx.execute(
        _TAKE,
        (
            worker_id, lease, batch,
            dumps([[row[0], row[10], attempt(row[7] + 1, max(row[8], row[9]))] for row in chosen]),
        ),
    ).rowcount  # fmt: skip
    if taken != len(chosen):  # impossible under the write lock: say so loudly
        raise RuntimeError("flowsim_sqlite: a queued task run changed during its claim")
    return [(row[0], row[1], row[3], row[2], row[4], row[7], row[10] + 1, lease) for row in chosen]


def build(tx: Tx, specs: SpecCache, taken: list[Taken]) -> list[Claim]:
    """The claims of what ``claim`` took, in a read transaction after its commit: the
    runs' inputs, metadata and parents, and the outputs of a DAG task's parents (ended
    before it was queued) are all as they were under the write lock."""
    run_ids = id_list(dict.fromkeys(row[1] for row in taken))
    started = tx.execute(_RUNS_OF_CLAIMS, (run_ids,)).fetchall()
    inputs = load_all([row[1] for row in started])
    metadata = load_all([row[2] for row in started])
    # decoded together (views.load_all); a run with two task runs claimed at once gives
    # the second its own copies, as every claim had before
    runs = {row[0]: row for row in started}
    decoded = {
        row[0]: (given, meta) for row, given, meta in zip(started, inputs, metadata, strict=True)
    }
    claims: list[Claim] = []
    for task_id, run_id, spec_id, name, cost, retry_count, token, lease in taken:
        spec = specs.spec(tx, spec_id)
        task = spec.tasks[name]
        run = runs[run_id]
        if run_id in decoded:
            given, meta = decoded.pop(run_id)
        else:
            given, meta = loads(run[1]), loads(run[2])
        parent_outputs: dict[str, JSON] = {}
        if task.parents:
            outputs = dict(
                tx.execute("SELECT name, output FROM task_runs WHERE run_id = ?", (run_id,))
            )
            parent_outputs = {
                parent: load_optional(outputs[parent])
                for parent in task.parents
                if parent in outputs
            }
        claims.append(
            Claim(
                task_id, run_id, spec.name, name, task.pool, cost, retry_count, token, given,
                meta, parent_outputs, run[3], lease,
            )
        )  # fmt: skip
    return claims

"""Creating runs: one batch, one transaction, a few multi-row inserts (``Tx.insert_many``).

A child is de-duplicated by ``rules.child_spawn_key`` (a unique index on ``spawn_key``):
spawning it again, from a retried or reclaimed parent whose spawn index restarted, returns
the run that exists. The views returned for new runs are built from the rows just written,
not read back.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowsim import concurrency, idempotency, rules
from flowsim.errors import RunNotFoundError, StaleAttemptError
from flowsim.idempotency import Claim, Collision, Holder
from flowsim.rules import RunStatus
from flowsim.store.protocol import Finished, RunRequest, RunView
from flowsim.store.records import JSON, WorkflowSpec
from flowsim.store.views import new_run_view
from flowsim_sqlite import places
from flowsim_sqlite.conditions import start_roots
from flowsim_sqlite.dag import INSERT_TASK, LAST_FINISH_SEQ, Changes, TaskRow, task_row
from flowsim_sqlite.rows import (
    SpecCache,
    Tx,
    dump_object,
    dumps,
    id_list,
    loads,
    read_views,
)

INSERT_RUN = (
    "INSERT INTO runs (id, workflow, spec_id, status, input, additional_metadata, priority, "
    "created_at, parent_task_run_id, parent_run_id, child_key, child_index, spawn_key, "
    "event_id, event_key, event_filter) "
    "VALUES (?, ?, ?, 'QUEUED', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def check_keys(
    requests: Sequence[RunRequest], fresh: list[int], parent_metadata: dict[str, JSON] | None
) -> None:
    """Every concurrency key of the new runs evaluates, or nothing is written."""
    concurrency.check_runs((requests[position] for position in fresh), parent_metadata or {})


def arrive_runs(
    tx: Tx,
    specs: SpecCache,
    created: list[tuple[RunView, WorkflowSpec, int | None]],
    task_rows: list[TaskRow],
    now: float,
) -> list[str]:
    """New limited runs arrive in their groups one after the other (workflow-level first,
    then each root task run), as the in-memory store creates them; returns the runs whose
    views changed (parked runs look the same; cancelled ones, and holders cancelled to make
    room, do not). Settles what the cancellations freed."""
    changes = Changes()
    seqs = {row[0]: row[11] for row in task_rows}
    for view, spec, arrival in created:
        spec_id = specs.spec_id(tx, spec)
        given = (view.input, view.additional_metadata)
        cancel_new = False
        if arrival is not None:
            gates = concurrency.run_gates(spec, *given)
            plan = places.arrive(tx, specs, view.id, view.id, gates, arrival, now, changes)
            cancel_new = plan.cancel_new
            if not plan.admit and not cancel_new:
                places.park(tx, [task.id for task in view.tasks.values()])
        if not cancel_new:
            for name, task in view.tasks.items():
                # a root with conditions arrives when they queue it (conditions.start_roots)
                if spec.tasks[name].concurrency and not spec.tasks[name].conditions:
                    places.arrive_task(tx, specs, (task.id, view.id, spec_id, name, seqs[task.id]),
                                       given, now, changes)  # fmt: skip
        if cancel_new:
            places.cancel_unit(tx, specs, view.id, now, changes)
        changes.limited_runs.add(view.id)
    touched = changes.limited_runs | set(changes.finished)
    places.settle(tx, specs, now, changes)
    return sorted(touched)


#: ``new_run_view``'s arguments for one run: request, run id, root task ids, child index
Deferred = tuple[RunRequest, str, list[str], int | None]


class Created:
    """``create_runs``' answer: the runs' ids in request order, and their views, most of
    them built only when asked for, after the commit. Nothing in the transaction needs
    the view of a run without concurrency limits or root conditions, and building 10,000
    of them took a fifth of a fan-out's time under the write lock, where the other
    processes wait for it."""

    __slots__ = ("_deferred", "_now", "_parent", "_views", "collisions", "run_ids")

    def __init__(
        self,
        run_ids: list[str],
        views: dict[str, RunView],
        deferred: list[Deferred],
        now: float,
        parent: tuple[str | None, dict[str, JSON] | None],
        collisions: dict[int, Collision] | None = None,
    ) -> None:
        #: in request order; a collided request's is the id of the run holding its key
        self.run_ids = run_ids
        self._views = views
        self._deferred = deferred
        self._now = now
        self._parent = parent
        #: by request position: the requests not created, their keys held
        self.collisions = collisions or {}

    def views(self) -> list[RunView | Collision]:
        parent_task_run_id, parent_metadata = self._parent
        for request, run_id, task_ids, child_index in self._deferred:
            self._views[run_id] = new_run_view(
                request,
                run_id,
                task_ids,
                self._now,
                parent_task_run_id=parent_task_run_id,
                parent_metadata=parent_metadata,
                child_index=child_index,
            )
        self._deferred = []
        return [
            self.collisions.get(position) or self._views[run_id]
            for position, run_id in enumerate(self.run_ids)
        ]


def encode_inputs(requests: Sequence[RunRequest]) -> list[str] | None:
    """The requests' inputs as JSON text, encoded before the write lock is taken (a tenth
    of a fan-out's time in the transaction); None if one cannot be, so that
    ``create_runs`` raises for it only where it always did: on a run it writes (a
    de-duplicated child's input is never encoded)."""
    try:
        return [dumps(request.input) for request in requests]
    except Exception:  # whatever it is, create_runs raises it in the transaction
        return None


def create_runs(
    tx: Tx,
    specs: SpecCache,
    requests: Sequence[RunRequest],
    now: float,
    parent_task_run_id: str | None,
    parent_token: int | None = None,
    inputs: Sequence[str] | None = None,
) -> Created:
    """``inputs``: the requests' inputs as JSON text, if the caller encoded them before
    the transaction began (``encode_inputs``)."""
    parent_run_id: str | None = None
    parent_metadata: dict[str, JSON] | None = None
    keys: list[str | None] = [None] * len(requests)
    indexes: list[int | None] = [None] * len(requests)
    existing: dict[str, str] = {}
    if parent_task_run_id is not None:
        row = tx.execute(
            "SELECT t.run_id, t.spawn_index, r.additional_metadata, t.status, t.token "
            "FROM task_runs AS t JOIN runs AS r ON r.id = t.run_id WHERE t.id = ?",
            (parent_task_run_id,),
        ).fetchone()
        if row is None:
            raise RunNotFoundError(f"no task run with id {parent_task_run_id!r}")
        parent_run_id, base, metadata_text, status, token = row
        if parent_token is not None and (status != "RUNNING" or token != parent_token):
            raise StaleAttemptError(parent_task_run_id, parent_token)
        parent_metadata = loads(metadata_text)
        if requests:
            tx.execute(
                "UPDATE task_runs SET spawn_index = spawn_index + ? WHERE id = ?",
                (len(requests), parent_task_run_id),
            )
        for offset, request in enumerate(requests):
            indexes[offset] = base + offset
            keys[offset] = rules.child_spawn_key(
                parent_task_run_id, request.child_key, base + offset
            )
    else:  # top-level runs: only a trigger (a cron tick) gives one a key
        keys = [
            rules.trigger_spawn_key(r.trigger_key) if r.trigger_key is not None else None
            for r in requests
        ]
    if any(key is not None for key in keys):
        existing = dict(
            tx.execute(
                "SELECT spawn_key, id FROM runs WHERE spawn_key IN "
                "(SELECT value FROM json_each(?))",
                (id_list(k for k in keys if k is not None),),
            ).fetchall()
        )

    claims = idempotency.claims_of(requests, parent_metadata, now)  # a bad key: nothing
    held = _held_keys(tx, claims)
    # which items are new (a key repeated within the batch is new only the first time),
    # and which collide with the run holding their idempotency key
    fresh: list[int] = []
    run_ids: list[str] = []
    collisions: dict[int, Collision] = {}
    for position, key in enumerate(keys):
        if key is not None and key in existing:
            run_ids.append(existing[key])
            continue
        claim = claims[position]
        if claim is not None:
            name = requests[position].spec.name
            collided = idempotency.collision(name, claim, held.get(claim.key), now)
            if collided is not None:
                collisions[position] = collided
                run_ids.append(collided.holder)
                continue
        run_id = tx.new_id()
        if key is not None:
            existing[key] = run_id
        if claim is not None:
            held[claim.key] = idempotency.holding(run_id, claim)
        fresh.append(position)
        run_ids.append(run_id)

    check_keys(requests, fresh, parent_metadata)
    run_rows = []
    task_rows: list[TaskRow] = []
    views: dict[str, RunView] = {}
    # a run with workflow-level limits takes a sequence (its arrival) before its roots'
    arrivals: dict[int, int] = {}
    count = sum(len(requests[p].spec.roots) + bool(requests[p].spec.concurrency) for p in fresh)
    seq = tx.sequence(count) if fresh else 0
    deferred: list[Deferred] = []
    for position in fresh:
        request = requests[position]
        spec = request.spec
        spec_id = specs.spec_id(tx, spec)
        if spec.concurrency:
            arrivals[position] = seq
            seq += 1
        run_id = run_ids[position]
        task_ids = [tx.new_id() for _ in spec.roots]
        if spec.limited or any(spec.tasks[name].conditions for name in spec.roots):
            # arrive_runs and start_roots below take the view
            view = new_run_view(
                request,
                run_id,
                task_ids,
                now,
                parent_task_run_id=parent_task_run_id,
                parent_metadata=parent_metadata,
                child_index=indexes[position],
            )
            views[run_id] = view
            metadata = view.additional_metadata
        else:
            deferred.append((request, run_id, task_ids, indexes[position]))
            # new_run_view's metadata: the parent's, the child's own keys winning
            metadata = request.additional_metadata
            if parent_metadata:
                metadata = {**parent_metadata, **metadata}
        run_rows.append(
            (
                run_id, spec.name, spec_id,
                dumps(request.input) if inputs is None else inputs[position], dump_object(metadata),
                request.priority, now, parent_task_run_id, parent_run_id, request.child_key,
                indexes[position], keys[position], *_event_columns(request),
            )
        )  # fmt: skip
        for name, task_id in zip(spec.roots, task_ids, strict=True):
            bucket = specs.bucket(tx, spec.tasks[name].schedule_timeout)
            task_rows.append(
                task_row(task_id, run_id, spec, spec_id, name, bucket, "QUEUED",
                         request.priority, seq, now, request.run_at)
            )  # fmt: skip
            seq += 1
    if run_rows:
        tx.insert_many(INSERT_RUN, run_rows)
        tx.insert_many(INSERT_TASK, task_rows)
        _claim_keys(tx, [(claims[p], run_ids[p]) for p in fresh if claims[p] is not None])
        limited = [p for p in fresh if requests[p].spec.limited]
        if limited:
            changed = arrive_runs(
                tx,
                specs,
                [(views[run_ids[p]], requests[p].spec, arrivals.get(p)) for p in limited],
                task_rows,
                now,
            )
            views.update((view.id, view) for view in read_views(tx, changed))
        for position in fresh:
            spec = requests[position].spec
            if any(spec.tasks[name].conditions for name in spec.roots):
                run_at = requests[position].run_at
                ready_at = max(now, run_at) if run_at is not None else now
                view = views[run_ids[position]]
                start_roots(tx, specs, specs.spec_id(tx, spec), view, now, ready_at)
    created = {run_id for _, run_id, _, _ in deferred}
    answered = [r for p, r in enumerate(run_ids) if p not in collisions]
    missing = [r for r in dict.fromkeys(answered) if r not in views and r not in created]
    if missing:
        views.update((view.id, view) for view in read_views(tx, missing))
    return Created(run_ids, views, deferred, now, (parent_task_run_id, parent_metadata), collisions)


def _held_keys(tx: Tx, claims: Sequence[Claim | None]) -> dict[str, Holder]:
    """The stored claims of the keys the new runs claim (none are read when no run does)."""
    keys = [claim.key for claim in claims if claim is not None]
    if not keys:
        return {}
    rows = tx.execute(
        "SELECT k.key, k.run_id, k.expires_at, k.until_end, r.status FROM idempotency_keys AS k "
        "LEFT JOIN runs AS r ON r.id = k.run_id WHERE k.key IN (SELECT value FROM json_each(?))",
        (id_list(keys),),
    ).fetchall()
    return {
        key: (run_id, expires_at, bool(until_end), RunStatus(status) if status else None)
        for key, run_id, expires_at, until_end, status in rows
    }


def _claim_keys(tx: Tx, claims: Sequence[tuple[Claim | None, str]]) -> None:
    """Record each new run's claim, replacing the claim it took the key from."""
    rows = [
        (claim.key, run_id, claim.expires_at, int(claim.until_end))
        for claim, run_id in claims
        if claim is not None
    ]
    if rows:
        tx.executemany(
            "INSERT INTO idempotency_keys (key, run_id, expires_at, until_end) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, "
            "expires_at = excluded.expires_at, until_end = excluded.until_end",
            rows,
        )


def _event_columns(request: RunRequest) -> tuple[str | None, str | None, str | None]:
    event = request.triggering_event
    if event is None:
        return (None, None, None)
    payload = None if event.filter_payload is None else dumps(event.filter_payload)
    return (event.id, event.key, payload)


def finished_since(tx: Tx, cursor: int | None) -> Finished:
    """Runs given a ``finish_seq`` after ``cursor`` (``dag.finish_run`` numbers them in
    commit order), read through the index on it: the cost is what ended, not what waits."""
    if cursor is None:
        (last,) = tx.execute(f"SELECT coalesce(({LAST_FINISH_SEQ}), 0)").fetchone()
        return Finished((), int(last))
    rows = tx.execute(
        "SELECT id, finish_seq FROM runs WHERE finish_seq > ? ORDER BY finish_seq", (cursor,)
    ).fetchall()
    return Finished(tuple(row[0] for row in rows), int(rows[-1][1]) if rows else cursor)

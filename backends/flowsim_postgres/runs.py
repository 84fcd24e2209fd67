"""Creating runs (children de-duplicated by spawn key) and reading them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flowsim import concurrency, idempotency, rules
from flowsim.errors import RunNotFoundError, StaleAttemptError
from flowsim.idempotency import Claim, Collision, Holder
from flowsim.quick_init import quick_init
from flowsim.rules import RunStatus
from flowsim.store.protocol import (
    AttemptView,
    Finished,
    RunProgress,
    RunRequest,
    RunView,
    TaskView,
)
from flowsim.store.records import JSON, WorkflowSpec
from flowsim.store.views import (
    STATUS,
    attempt_view,
    in_order,
    load_all,
    new_run_view,
    run_view,
    task_view,
)
from flowsim_postgres.rows import (
    ATTEMPT_FIELDS,
    LAST_ATTEMPT,
    Conn,
    Session,
    dumps,
    ended_status,
    new_ids,
    run_status,
)


@quick_init
@dataclass(frozen=True, slots=True)
class NewTask:
    id: str
    run_id: str
    spec: WorkflowSpec
    name: str
    status: RunStatus
    priority: int
    #: a scheduled run's root task waits, as a retry in backoff, until then
    ready_at: float | None = None


# a task run ready later than now waits in backoff; its schedule clock starts when ready
_INSERT_TASKS = """
INSERT INTO task_runs (id, run_id, workflow, name, pool, slot_cost, schedule_timeout, status,
                       priority, seq, enqueued_at, ready_at, deadline, in_backoff)
SELECT u.id, u.run_id, u.workflow, u.name, u.pool, u.slot_cost, u.timeout, u.status,
       u.priority, nextval('claim_seq'), %(now)s, u.ready, u.ready + u.timeout,
       u.ready > %(now)s
FROM unnest(%(ids)b::text[], %(run_ids)b::text[], %(workflows)b::text[], %(names)b::text[],
            %(pools)b::text[], %(costs)b::int[], %(timeouts)b::float8[], %(statuses)b::text[],
            %(priorities)b::int[], %(ready)b::float8[])
     WITH ORDINALITY AS u(id, run_id, workflow, name, pool, slot_cost, timeout, status,
                          priority, ready, i)
ORDER BY u.i
"""


#: a call creating at least this many runs writes them (and their root task runs) with
#: COPY, which pipeline mode cannot send: the store runs such a call without pipelining
#: (a few round trips more, worth far less than COPY saves on hundreds of rows: 10,000
#: runs went in ~30 % faster, parameters dumped included)
COPY_FROM = 256

#: COPY leaves out ``seq``: its default (migration 0008) takes the claim sequence's next
#: value per row, in the order the rows are sent
_COPY_TASKS = """
COPY task_runs (id, run_id, workflow, name, pool, slot_cost, schedule_timeout, status, priority,
                enqueued_at, ready_at, deadline, in_backoff) FROM STDIN
"""
_COPY_RUNS = """
COPY runs (id, workflow, spec_digest, input, additional_metadata, priority, created_at,
           parent_task_run_id, parent_run_id, child_key, child_index, spawn_key, event_id,
           event_key, event_filter) FROM STDIN
"""


def copies(count: int) -> bool:
    """Whether ``create_runs`` of ``count`` requests writes with COPY (so must not be run
    in pipeline mode)."""
    return count >= COPY_FROM


def insert_tasks(conn: Conn, tasks: Sequence[NewTask], now: float, bulk: bool = False) -> None:
    """Insert task runs in order: each takes the next value of the claim sequence (a
    volatile target-list expression is evaluated after ORDER BY, so in ``u.i`` order; a
    ``bulk`` COPY evaluates the column default row by row as sent)."""
    if not tasks:
        return
    specs = [task.spec.tasks[task.name] for task in tasks]
    if bulk:
        with conn.cursor().copy(_COPY_TASKS) as copy:
            for task, spec in zip(tasks, specs, strict=True):
                ready = now if task.ready_at is None else max(now, task.ready_at)
                timeout = float(spec.schedule_timeout)
                copy.write_row((
                    task.id, task.run_id, task.spec.name, task.name, spec.pool.value,
                    spec.slot_cost, timeout, task.status.value, task.priority, now, ready,
                    ready + timeout, ready > now,
                ))  # fmt: skip
        return
    conn.execute(
        _INSERT_TASKS,
        {
            "now": now,
            "ids": [task.id for task in tasks],
            "run_ids": [task.run_id for task in tasks],
            "workflows": [task.spec.name for task in tasks],
            "names": [task.name for task in tasks],
            "pools": [spec.pool.value for spec in specs],
            "costs": [spec.slot_cost for spec in specs],
            "timeouts": [float(spec.schedule_timeout) for spec in specs],
            "statuses": [task.status.value for task in tasks],
            "priorities": [task.priority for task in tasks],
            "ready": [now if t.ready_at is None else max(now, t.ready_at) for t in tasks],
        },
    )


_INSERT_RUNS = """
INSERT INTO runs (id, workflow, spec_digest, input, additional_metadata, priority, created_at,
                  parent_task_run_id, parent_run_id, child_key, child_index, spawn_key,
                  event_id, event_key, event_filter)
SELECT u.id, u.workflow, u.digest, u.input::jsonb, u.meta::jsonb, u.priority, %(now)s,
       %(parent)s, %(parent_run)s, u.child_key, u.child_index, u.spawn_key, u.event_id,
       u.event_key, u.event_filter::jsonb
FROM unnest(%(ids)b::text[], %(workflows)b::text[], %(digests)b::text[], %(inputs)b::text[],
            %(metas)b::text[], %(priorities)b::int[], %(child_keys)b::text[],
            %(child_indexes)b::int[], %(spawn_keys)b::text[], %(event_ids)b::text[],
            %(event_keys)b::text[], %(event_filters)b::text[])
     WITH ORDINALITY AS u(id, workflow, digest, input, meta, priority, child_key, child_index,
                          spawn_key, event_id, event_key, event_filter, i)
ORDER BY u.i
"""


@dataclass(slots=True)
class _Parent:
    task_run_id: str
    run_id: str
    metadata: dict[str, JSON]
    first_index: int


def _reserve_spawn_indexes(conn: Conn, task_run_id: str, count: int, token: int | None) -> _Parent:
    """Take ``count`` spawn indexes of the parent task run (its row lock serialises spawns
    of one parent, so de-duplication by spawn key cannot race). With ``token``, only while
    the attempt with that token holds the task run (checked under the same row lock)."""
    row = conn.execute(
        "UPDATE task_runs t SET spawn_index = t.spawn_index + "
        "  CASE WHEN %(token)s::bigint IS NULL "
        "    OR (t.status = 'RUNNING' AND t.token = %(token)s::bigint) THEN %(count)s ELSE 0 END "
        "FROM runs r WHERE t.id = %(id)s AND r.id = t.run_id "
        "RETURNING t.spawn_index, t.run_id, r.additional_metadata, t.status, t.token",
        {"token": token, "count": count, "id": task_run_id},
    ).fetchone()
    if row is None:
        raise RunNotFoundError(f"no task run with id {task_run_id!r}")
    if token is not None and (row[3] != "RUNNING" or row[4] != token):
        raise StaleAttemptError(task_run_id, token)
    return _Parent(task_run_id, row[1], dict(row[2]), row[0] - count)


def _store_specs(session: Session, specs: Sequence[WorkflowSpec]) -> list[str]:
    """The specs' digests, each spec written (once per batch, if not there yet) in the
    transaction that writes the runs of it: no foreign key checks a run's spec (migration
    0011), this statement is what keeps it there, even in a schema emptied under us."""
    digests: list[str] = []
    batch: dict[str, tuple[str, str]] = {}
    for spec in specs:
        digest, text = session.specs.digest(spec)
        digests.append(digest)
        batch[digest] = (spec.name, text)
    if batch:
        session.conn.execute(
            "INSERT INTO workflow_specs (digest, name, spec) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]::jsonb[]) "
            "ON CONFLICT (digest) DO NOTHING",
            (list(batch), [n for n, _ in batch.values()], [t for _, t in batch.values()]),
        )
    return digests


def create_runs(
    session: Session,
    requests: Sequence[RunRequest],
    now: float,
    parent_task_run_id: str | None,
    parent_token: int | None = None,
) -> list[RunView | Collision]:
    from flowsim_postgres import places  # places cancels through outcomes, which imports us
    from flowsim_postgres.conditions import start_roots

    conn = session.conn
    parent = None
    spawn_keys: list[str | None] = [None] * len(requests)
    existing: dict[str, str] = {}
    if parent_task_run_id is not None:
        parent = _reserve_spawn_indexes(conn, parent_task_run_id, len(requests), parent_token)
        spawn_keys = [
            rules.child_spawn_key(parent.task_run_id, request.child_key, parent.first_index + i)
            for i, request in enumerate(requests)
        ]
    else:  # top-level runs: only a trigger (a cron tick) gives one a key
        spawn_keys = [
            rules.trigger_spawn_key(r.trigger_key) if r.trigger_key is not None else None
            for r in requests
        ]
        triggered = sorted({key for key in spawn_keys if key is not None})
        if triggered:
            # every worker process fires the same cron tick: the first creates the run, the
            # others wait here for it to commit and then find it (SELECT below)
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest(%s::text[]) AS k",
                (triggered,),
            )
    if any(key is not None for key in spawn_keys):
        existing = dict(
            conn.execute(
                "SELECT spawn_key, id FROM runs WHERE spawn_key = ANY(%b::text[])", (spawn_keys,)
            ).fetchall()
        )
    claims = idempotency.claims_of(requests, parent.metadata if parent else None, now)
    held = _held_keys(conn, claims)
    ids = iter(new_ids(sum(len(request.spec.roots) + 1 for request in requests)))
    results: list[RunView | str | Collision] = []
    views: dict[str, RunView] = {}
    new_requests: list[RunRequest] = []
    new_views: list[RunView] = []
    new_keys: list[str | None] = []
    new_claims: list[tuple[Claim, str]] = []
    for index, request in enumerate(requests):
        key = spawn_keys[index]
        if key is not None and key in existing:
            results.append(existing[key])
            continue
        if key is not None and key in views:
            results.append(views[key])
            continue
        claim = claims[index]
        collided = None if claim is None else (
            idempotency.collision(request.spec.name, claim, held.get(claim.key), now)
        )  # fmt: skip
        if collided is not None:
            results.append(collided)
            continue
        view = new_run_view(
            request,
            next(ids),
            [next(ids) for _ in request.spec.roots],
            now,
            parent_task_run_id=parent.task_run_id if parent is not None else None,
            parent_metadata=parent.metadata if parent is not None else None,
            child_index=parent.first_index + index if parent is not None else None,
        )
        if key is not None:
            views[key] = view
        if claim is not None:
            held[claim.key] = idempotency.holding(view.id, claim)
            new_claims.append((claim, view.id))
        new_requests.append(request)
        new_views.append(view)
        new_keys.append(key)
        results.append(view)
    if new_views:
        parent_metadata = parent.metadata if parent is not None else {}
        concurrency.check_runs(new_requests, parent_metadata)  # or nothing is written
        digests = _store_specs(session, [request.spec for request in new_requests])
        metas = _metadata_texts(new_requests, new_views, parent_metadata)
        bulk = copies(len(requests))
        if bulk:
            _copy_runs(conn, new_views, digests, metas, new_keys, parent, now)
        else:
            conn.execute(
                _INSERT_RUNS,
                {
                    "now": now,
                    "parent": parent.task_run_id if parent is not None else None,
                    "parent_run": parent.run_id if parent is not None else None,
                    "ids": [view.id for view in new_views],
                    "workflows": [view.workflow for view in new_views],
                    "digests": digests,
                    "inputs": [dumps(view.input) for view in new_views],
                    "metas": metas,
                    "priorities": [view.priority for view in new_views],
                    "child_keys": [view.child_key for view in new_views],
                    "child_indexes": [view.child_index for view in new_views],
                    "spawn_keys": new_keys,
                    "event_ids": [_event_id(view) for view in new_views],
                    "event_keys": [_event_key(view) for view in new_views],
                    "event_filters": [_event_filter(view) for view in new_views],
                },
            )
        tasks = [
            [
                NewTask(task.id, view.id, request.spec, name, RunStatus.QUEUED, view.priority,
                        request.run_at)
                for name, task in view.tasks.items()
            ]
            for request, view in zip(new_requests, new_views, strict=True)
        ]  # fmt: skip
        arrivals = _insert_tasks_with_arrivals(conn, new_requests, new_views, tasks, now, bulk)
        _claim_keys(conn, new_claims)
        session.changed = True
        pairs = zip(new_requests, new_views, strict=True)
        limited = [(v, r.spec, arrivals.get(v.id)) for r, v in pairs if r.spec.limited]
        if limited:
            changed = set(_arrive_runs(session, limited, now))
            results = [r.id if isinstance(r, RunView) and r.id in changed else r
                       for r in results]  # fmt: skip
        for request, view in zip(new_requests, new_views, strict=True):
            spec = request.spec
            if any(spec.tasks[name].conditions for name in spec.roots):
                run_at = request.run_at
                ready_at = max(now, run_at) if run_at is not None else now
                start_roots(session, view, spec, now, ready_at)
        if limited:
            places.settle(session, now)  # what roots queued at once by conditions changed
    found = fetch_runs(conn, [r for r in results if isinstance(r, str)])
    return [found[r] if isinstance(r, str) else r for r in results]


def _held_keys(conn: Conn, claims: Sequence[Claim | None]) -> dict[str, Holder]:
    """The stored claims of the keys the new runs claim, each key locked (an advisory
    lock, in key order) until the transaction ends, so that two processes creating runs
    of one key decide one after the other; nothing is read when no run claims a key."""
    keys = sorted({claim.key for claim in claims if claim is not None})
    if not keys:
        return {}
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('flowsim idempotency key ' || k)) "
        "FROM unnest(%s::text[]) AS k",
        (keys,),
    )
    rows = conn.execute(
        f"SELECT k.key, k.run_id, k.expires_at, k.until_end, r.id, {ended_status('r')} "
        "FROM idempotency_keys AS k LEFT JOIN runs AS r ON r.id = k.run_id "
        "WHERE k.key = ANY(%s::text[])",
        (keys,),
    ).fetchall()
    return {
        key: (run_id, expires_at, until_end, _holder_status(found, ended))
        for key, run_id, expires_at, until_end, found, ended in rows
    }


def _holder_status(found: str | None, ended: str | None) -> RunStatus | None:
    """What ``idempotency.holds`` needs of the holder: gone, ended how, or not ended."""
    if found is None:
        return None
    return STATUS[ended] if ended is not None else RunStatus.RUNNING


def _claim_keys(conn: Conn, claims: Sequence[tuple[Claim, str]]) -> None:
    """Record each new run's claim, replacing the claim it took the key from."""
    if claims:
        conn.execute(
            "INSERT INTO idempotency_keys (key, run_id, expires_at, until_end) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::float8[], %s::bool[]) "
            "ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, "
            "expires_at = excluded.expires_at, until_end = excluded.until_end",
            (
                [claim.key for claim, _ in claims],
                [run_id for _, run_id in claims],
                [claim.expires_at for claim, _ in claims],
                [claim.until_end for claim, _ in claims],
            ),
        )


def _copy_runs(
    conn: Conn,
    views: list[RunView],
    digests: list[str],
    metas: list[str],
    spawn_keys: list[str | None],
    parent: _Parent | None,
    now: float,
) -> None:
    """``_INSERT_RUNS`` as a COPY, rows in creation order (``ord`` is assigned as sent)."""
    parent_task = parent.task_run_id if parent is not None else None
    parent_run = parent.run_id if parent is not None else None
    with conn.cursor().copy(_COPY_RUNS) as copy:
        for view, digest, meta, key in zip(views, digests, metas, spawn_keys, strict=True):
            copy.write_row((
                view.id, view.workflow, digest, dumps(view.input), meta, view.priority, now,
                parent_task, parent_run, view.child_key, view.child_index, key,
                _event_id(view), _event_key(view), _event_filter(view),
            ))  # fmt: skip


def _event_id(view: RunView) -> str | None:
    return view.triggering_event.id if view.triggering_event is not None else None


def _event_key(view: RunView) -> str | None:
    return view.triggering_event.key if view.triggering_event is not None else None


def _event_filter(view: RunView) -> str | None:
    """The payload of the filter that started the run, as JSON text (None: no filter)."""
    event = view.triggering_event
    return None if event is None or event.filter_payload is None else dumps(event.filter_payload)


def _metadata_texts(
    requests: list[RunRequest], views: list[RunView], inherited: dict[str, JSON]
) -> list[str]:
    """Each new run's metadata as JSON text; a run that adds no keys of its own has exactly
    the inherited metadata (every child of a plain fan-out), dumped once for all of them."""
    shared = dumps(inherited)
    return [
        dumps(view.additional_metadata) if request.additional_metadata else shared
        for request, view in zip(requests, views, strict=True)
    ]


def _insert_tasks_with_arrivals(
    conn: Conn,
    requests: list[RunRequest],
    views: list[RunView],
    tasks: list[list[NewTask]],
    now: float,
    bulk: bool,
) -> dict[str, int]:
    """Insert the new runs' root task runs; a run with workflow-level limits first takes
    the next sequence as its arrival order (before its roots', as the in-memory store
    does), so such a batch is inserted run by run. Returns the arrivals by run id."""
    if not any(request.spec.concurrency for request in requests):
        insert_tasks(conn, [task for run_tasks in tasks for task in run_tasks], now, bulk)
        return {}
    arrivals: dict[str, int] = {}
    for request, view, run_tasks in zip(requests, views, tasks, strict=True):
        if request.spec.concurrency:
            row = conn.execute("SELECT nextval('claim_seq')").fetchone()
            assert row is not None
            arrivals[view.id] = int(row[0])
        insert_tasks(conn, run_tasks, now)
    return arrivals


def _arrive_runs(
    session: Session, created: list[tuple[RunView, WorkflowSpec, int | None]], now: float
) -> list[str]:
    """New limited runs arrive in their groups one after the other (workflow-level first,
    taking the next sequence as its arrival, then each root task run), as the in-memory
    store creates them; returns the runs to read back: all of them, as any may have
    been cancelled by a later one (a cancel settles, which forgets the runs touched so
    far, so those are not the list). Settles what cancelled holders freed."""
    from flowsim_postgres import places  # places cancels through outcomes, which imports us

    conn = session.conn
    for view, spec, arrival in created:
        given = (view.input, view.additional_metadata)
        cancel_new = False
        if arrival is not None:
            gates = concurrency.run_gates(spec, *given)
            plan = places.arrive(session, view.id, view.id, gates, arrival, now)
            cancel_new = plan.cancel_new
            if not plan.admit and not cancel_new:
                places.park(conn, [task.id for task in view.tasks.values()])
        if not cancel_new:
            for name, task in view.tasks.items():
                # a root with conditions arrives when they queue it (conditions.start_roots)
                if spec.tasks[name].concurrency and not spec.tasks[name].conditions:
                    places.arrive_task(session, task.id, view.id, name, given, now)
        if cancel_new:
            places.cancel_unit(session, view.id, now)
        session.limited_runs.add(view.id)
    places.settle(session, now)
    return [view.id for view, _, _ in created]


#: a task run's attempts in order: the earlier ones from the attempts table, then the last
#: one, which its own row holds (migration 0009)
_ATTEMPTS = f"""
SELECT a.task_run_id, {", ".join(f"a.{name}" for name in ATTEMPT_FIELDS)}, a.n FROM attempts a
JOIN task_runs t ON t.id = a.task_run_id WHERE t.run_id = ANY(%b::text[])
UNION ALL
SELECT id, {LAST_ATTEMPT}, attempt_count FROM task_runs
WHERE run_id = ANY(%b::text[]) AND attempt_count > 0
ORDER BY 1, 9
"""


#: a task run as ``_tasks_by_run`` reads it: ``task_view``'s columns (the output as text,
#: decoded together with the others'), its run, whether it has had an attempt, and whether
#: its end ended its run (``finish_xid``: ``rows.ended_status``) and when
_TASK_COLUMNS = (
    "t.id, t.name, t.status, t.retry_count, t.output::text, t.error, t.worker_id, t.run_id, "
    "t.attempt_count > 0, t.finish_xid IS NOT NULL, t.att_finished_at"
)
_TASKS = f"SELECT {_TASK_COLUMNS} FROM task_runs t WHERE t.run_id = ANY(%b::text[]) ORDER BY t.ord"
#: what ``fetch_progress`` reads: each task run with its run's own end, in one result (a
#: run without task runs, which no workflow of the SDK makes, in a row of its own)
_PROGRESS = (
    f"SELECT {_TASK_COLUMNS}, r.terminal_status, r.finished_at, r.id "
    "FROM runs r LEFT JOIN task_runs t ON t.run_id = r.id WHERE r.id = ANY(%b::text[]) "
    "ORDER BY t.ord"
)


@dataclass(slots=True)
class _RunTasks:
    """Task-run rows by run: task views by name, which runs have started (a task run had
    an attempt), and the status and end time of the runs that ended with their task run."""

    tasks: dict[str, dict[str, TaskView]]
    started: set[str]
    ended: dict[str, tuple[str, float]]

    def state(
        self, run_id: str, terminal_status: str | None, finished_at: float | None
    ) -> tuple[RunStatus, float | None]:
        """The run's status and end time, from its row's ``terminal_status`` and
        ``finished_at`` or else from the task run it ended with."""
        if terminal_status is None and run_id in self.ended:
            terminal_status, finished_at = self.ended[run_id]
        return run_status(terminal_status, run_id in self.started), finished_at


def _tasks_by_run(task_rows: list[Any], attempts: dict[str, list[AttemptView]]) -> _RunTasks:
    """Rows of ``_TASK_COLUMNS`` (and whatever follows them) by run. Reading the ended
    children of a 10,000-child fan-out is this loop's work: the outputs are decoded as one
    JSON array, not one ``json.loads`` each."""
    by_run = _RunTasks({}, set(), {})
    outputs = iter(load_all([row[4] for row in task_rows if row[4] is not None]))
    for row in task_rows:
        task_id, name, status, retries, output, error, worker, run_id, started, ended, at = row[:11]
        value = next(outputs) if output is not None else None
        by_run.tasks.setdefault(run_id, {})[name] = task_view(
            (task_id, name, status, retries, value, error, worker), tuple(attempts.get(task_id, ()))
        )
        if started:
            by_run.started.add(run_id)
        if ended:
            by_run.ended[run_id] = (status, at)
    return by_run


def fetch_runs(
    conn: Conn, run_ids: Sequence[str], with_attempts: bool = True
) -> dict[str, RunView]:
    """The stored runs among ``run_ids``, by id (unknown ids are left out), with their
    attempts if ``with_attempts`` (a third query, and most of the cost)."""
    wanted = list(dict.fromkeys(run_ids))
    if not wanted:
        return {}
    # three queries sent together (one round trip in pipeline mode), read afterwards
    run_cursor = conn.execute(
        "SELECT id, workflow, terminal_status, input, additional_metadata, priority, "
        "created_at, finished_at, parent_task_run_id, child_key, child_index, event_id, "
        "event_key, event_filter FROM runs WHERE id = ANY(%b::text[])",
        (wanted,),
    )
    task_cursor = conn.cursor().execute(_TASKS, (wanted,))
    attempt_cursor = None
    if with_attempts:
        attempt_cursor = conn.cursor().execute(_ATTEMPTS, (wanted, wanted))
    run_rows, task_rows = run_cursor.fetchall(), task_cursor.fetchall()
    attempts: dict[str, list[AttemptView]] = {}
    for row in attempt_cursor.fetchall() if attempt_cursor is not None else ():
        attempts.setdefault(row[0], []).append(attempt_view(row[1:8]))
    by_run = _tasks_by_run(task_rows, attempts)
    views: dict[str, RunView] = {}
    for row in run_rows:
        status, finished_at = by_run.state(row[0], row[2], row[7])
        columns = [*row[:7], finished_at, *row[8:]]
        views[row[0]] = run_view(columns, status, by_run.tasks.get(row[0], {}))
    return views


def fetch_progress(conn: Conn, run_ids: Sequence[str]) -> dict[str, RunProgress]:
    """``fetch_runs(conn, run_ids, with_attempts=False)`` without what never changes after
    a run is created (``RunStore.get_progress``): no inputs or metadata to send and decode,
    and one query."""
    wanted = list(dict.fromkeys(run_ids))
    if not wanted:
        return {}
    rows = conn.execute(_PROGRESS, (wanted,)).fetchall()
    by_run = _tasks_by_run([row for row in rows if row[0] is not None], {})
    ends = {row[13]: (row[11], row[12]) for row in rows}
    return {
        run_id: RunProgress(run_id, *by_run.state(run_id, terminal, finished_at),
                            by_run.tasks.get(run_id, {}))
        for run_id, (terminal, finished_at) in ends.items()
    }  # fmt: skip


def run_ids(conn: Conn) -> list[str]:
    return [row[0] for row in conn.execute("SELECT id FROM runs ORDER BY ord")]


def get_runs(conn: Conn, run_ids: Sequence[str], attempts: bool = True) -> list[RunView]:
    return in_order(fetch_runs(conn, run_ids, attempts), run_ids)


def get_progress(conn: Conn, run_ids: Sequence[str]) -> list[RunProgress]:
    return in_order(fetch_progress(conn, run_ids), run_ids)


#: runs whose own row ended, and runs that ended with their task run (``rows.ended_status``)
FINISHED_SINCE = """
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
       array(SELECT id FROM runs WHERE finish_xid >= %(cursor)s::text::xid8
             UNION ALL
             SELECT run_id FROM task_runs WHERE finish_xid >= %(cursor)s::text::xid8)
"""


_CURSOR = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def finished_since(conn: Conn, cursor: int | None) -> Finished:
    """Runs ended by a transaction at or after ``cursor``, and the next cursor: the oldest
    transaction id this statement's snapshot saw still in flight. Every run ended by an
    older transaction is visible to the statement; one ended by a newer one is found by
    the next call, which starts there (so a run may be reported twice, never missed).
    Without a cursor only the cursor is read: listing every run that ever ended, to drop
    the list, took 69 ms in a store of 200,000 ended runs, at every waiter's start."""
    if cursor is None:
        row = conn.execute(_CURSOR).fetchone()
        assert row is not None  # a SELECT without FROM returns one row
        return Finished((), int(row[0]))
    row = conn.execute(FINISHED_SINCE, {"cursor": str(cursor)}).fetchone()
    assert row is not None
    xmin, ids = row
    return Finished(tuple(ids), int(xmin))

-- flowsim run store, schema version 1 (SQLite).
-- Times are the caller's clock in float seconds; payloads are JSON text; ids are uuid4
-- strings made by the client. Row ids (rowid) give creation order: a run's task runs are
-- listed, and the snapshot's held and queued task runs enumerated, in rowid order.
-- The partial indexes' WHERE clauses are matched literally by the queries in store code.

-- one global counter: claim order (seq), schedule-deadline order and lease order all take
-- the next values from it, so every process agrees on "first queued first"
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('seq', 0);

-- a workflow definition as JSON (flowsim.store.records.spec_to_json), stored once per
-- content digest, so any process can advance a DAG it has no Python definition of
CREATE TABLE workflow_specs (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    spec TEXT NOT NULL
);

-- distinct schedule timeouts in the order first used: ties between equal schedule
-- deadlines expire in this order, then in the order the deadlines were set (as the
-- in-memory store's per-timeout deadline queues do)
CREATE TABLE timeout_buckets (
    id INTEGER PRIMARY KEY,
    seconds REAL NOT NULL UNIQUE
);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    spec_id INTEGER NOT NULL REFERENCES workflow_specs (id),
    status TEXT NOT NULL
        CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    input TEXT NOT NULL,
    additional_metadata TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    parent_task_run_id TEXT,
    -- the run of the task that spawned this one
    parent_run_id TEXT,
    child_key TEXT,
    child_index INTEGER,
    -- flowsim.rules.child_spawn_key: spawning the same child again finds this run
    spawn_key TEXT
);
CREATE UNIQUE INDEX runs_spawn_key ON runs (spawn_key) WHERE spawn_key IS NOT NULL;

CREATE TABLE task_runs (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (id),
    workflow TEXT NOT NULL,
    name TEXT NOT NULL,
    spec_id INTEGER NOT NULL,
    pool TEXT NOT NULL,
    slot_cost INTEGER NOT NULL,
    schedule_timeout REAL NOT NULL,
    bucket INTEGER NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    priority INTEGER NOT NULL,
    -- claim order among equal priorities: creation and every re-queue take the next value
    seq INTEGER NOT NULL,
    enqueued_at REAL NOT NULL,
    ready_at REAL NOT NULL,
    -- schedule deadline of the queued attempt, and the order it was set in
    deadline REAL NOT NULL,
    deadline_seq INTEGER NOT NULL,
    -- 1 while a retry waits out its backoff (not claimable, no schedule deadline yet);
    -- claim and expire release it once ready_at <= now
    in_backoff INTEGER NOT NULL DEFAULT 0,
    retry_count INTEGER NOT NULL DEFAULT 0,
    worker_id TEXT,
    -- the last fencing token issued; results are accepted only with it, while RUNNING
    token INTEGER NOT NULL DEFAULT 0,
    -- set while RUNNING: the lease, and the claim batch it was taken in (ties between
    -- equal lease expiries are re-queued in claim order)
    lease_expires_at REAL,
    lease_batch INTEGER,
    -- JSON list of the run ids the holder waits on (cross-process deadlock analysis)
    waiting_on TEXT,
    spawn_index INTEGER NOT NULL DEFAULT 0,
    output TEXT,
    error TEXT,
    -- JSON array of attempts, each [number, worker_id, queued_at, started_at, finished_at,
    -- outcome, error]: kept in the row (not a table of its own) so a claim or a result
    -- dirties no extra page. Numbers are written as JSON text by the client (json(?)),
    -- never as bound REALs, which SQLite's JSON functions would round to 15 digits.
    attempts TEXT NOT NULL DEFAULT '[]',
    UNIQUE (run_id, name)
);
-- the queue: claimable task runs of one workflow and slot pool, in claim order
CREATE INDEX task_runs_queue ON task_runs (workflow, pool, priority DESC, seq)
    WHERE status = 'QUEUED' AND in_backoff = 0;
CREATE INDEX task_runs_deadline ON task_runs (deadline, bucket, deadline_seq)
    WHERE status = 'QUEUED' AND in_backoff = 0;
CREATE INDEX task_runs_backoff ON task_runs (ready_at, seq)
    WHERE status = 'QUEUED' AND in_backoff = 1;
-- leases in expiry order (ties in claim order); a heartbeat scans it for its worker's
-- task runs (few, and every lease/3 seconds: not worth an index every claim writes to)
CREATE INDEX task_runs_lease ON task_runs (lease_expires_at, lease_batch, priority DESC, seq)
    WHERE status = 'RUNNING';

-- registration order is the rowid (an upsert keeps it)
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    capacity TEXT NOT NULL,
    workflows TEXT NOT NULL,
    lease_expires_at REAL NOT NULL,
    accepting INTEGER NOT NULL DEFAULT 1
);

-- flowsim run store, schema version 1.
-- "{schema}" is replaced by migrate.py with the quoted schema name (psycopg.sql.Identifier),
-- so this file never holds a name typed by a user. Times are the caller's clock, in float
-- seconds; payloads are jsonb; ids are uuid4 strings made by the client.

-- the global claim sequence: creation and every re-queue take the next value, and queued
-- task runs are claimed by (priority DESC, seq ASC) (flowsim.rules.claim_key)
CREATE SEQUENCE {schema}.claim_seq;
-- one value per claim batch: ties between equal lease expiries go in claim order
CREATE SEQUENCE {schema}.lease_seq;

-- a workflow definition as JSON (flowsim.store.records.spec_to_json), stored once per
-- content digest, so any process can advance a DAG it has no Python definition of
CREATE TABLE {schema}.workflow_specs (
    digest text PRIMARY KEY,
    name text NOT NULL,
    spec jsonb NOT NULL
);

CREATE TABLE {schema}.runs (
    id text PRIMARY KEY,
    -- creation order
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    workflow text NOT NULL,
    spec_digest text NOT NULL REFERENCES {schema}.workflow_specs (digest),
    -- set when the run reaches COMPLETED, FAILED or CANCELLED; before that a run is QUEUED
    -- until one of its task runs was claimed, then RUNNING (derived on read, so a claim
    -- never locks the run row that completions lock)
    terminal_status text CHECK (terminal_status IN ('COMPLETED', 'FAILED', 'CANCELLED')),
    input jsonb NOT NULL,
    additional_metadata jsonb NOT NULL,
    priority integer NOT NULL,
    created_at double precision NOT NULL,
    finished_at double precision,
    parent_task_run_id text,
    -- the run of the task that spawned this one
    parent_run_id text,
    child_key text,
    child_index integer,
    -- flowsim.rules.child_spawn_key: spawning the same child again finds this run
    spawn_key text UNIQUE
);

CREATE TABLE {schema}.task_runs (
    id text PRIMARY KEY,
    -- creation order (a run's tasks are listed in it)
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    run_id text NOT NULL REFERENCES {schema}.runs (id),
    workflow text NOT NULL,
    name text NOT NULL,
    pool text NOT NULL,
    slot_cost integer NOT NULL,
    schedule_timeout double precision NOT NULL,
    status text NOT NULL
        CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    priority integer NOT NULL,
    seq bigint NOT NULL,
    enqueued_at double precision NOT NULL,
    ready_at double precision NOT NULL,
    -- schedule deadline of the queued attempt (ready_at + schedule_timeout)
    deadline double precision NOT NULL,
    -- a retry waiting out its backoff, not yet released to the queue by claim or expire
    in_backoff boolean NOT NULL DEFAULT false,
    retry_count integer NOT NULL DEFAULT 0,
    worker_id text,
    -- the last fencing token issued (each claim takes the next one)
    token bigint NOT NULL DEFAULT 0,
    -- the token of the attempt holding the task run while it is RUNNING, else null:
    -- results are written only with it (and, not being indexed, a lookup by id and
    -- held_token can only use the primary key, whatever the statistics say)
    held_token bigint,
    -- set while a worker holds the task run (RUNNING), null otherwise
    lease_expires_at double precision,
    lease_batch bigint,
    lease_pos integer,
    -- runs the holder waits on (for the cross-process deadlock analysis)
    waiting_on text[],
    spawn_index integer NOT NULL DEFAULT 0,
    output jsonb,
    error jsonb,
    attempt_count integer NOT NULL DEFAULT 0,
    UNIQUE (run_id, name)
);

-- the queue: claimable task runs of one workflow and slot pool, in claim order
CREATE INDEX task_runs_queue ON {schema}.task_runs (workflow, pool, priority DESC, seq)
    WHERE status = 'QUEUED';
CREATE INDEX task_runs_deadline ON {schema}.task_runs (deadline)
    WHERE status = 'QUEUED' AND NOT in_backoff;
CREATE INDEX task_runs_backoff ON {schema}.task_runs (ready_at) WHERE in_backoff;
-- leases in expiry order (ties in claim order), as expire requeues them
CREATE INDEX task_runs_lease ON {schema}.task_runs (lease_expires_at, lease_batch, lease_pos)
    WHERE lease_expires_at IS NOT NULL;
-- what a worker holds (its heartbeat extends these leases)
CREATE INDEX task_runs_holder ON {schema}.task_runs (worker_id) WHERE status = 'RUNNING';

CREATE TABLE {schema}.attempts (
    task_run_id text NOT NULL REFERENCES {schema}.task_runs (id),
    -- position among the task run's attempts, from 1
    n integer NOT NULL,
    -- retry_count + 1 (a lost attempt's re-run keeps its number)
    number integer NOT NULL,
    worker_id text NOT NULL,
    queued_at double precision NOT NULL,
    started_at double precision NOT NULL,
    finished_at double precision,
    outcome text NOT NULL
        CHECK (outcome IN ('RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'LOST')),
    error text,
    PRIMARY KEY (task_run_id, n)
);

CREATE TABLE {schema}.workers (
    id text PRIMARY KEY,
    -- registration order
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    name text NOT NULL,
    capacity jsonb NOT NULL,
    workflows text[] NOT NULL,
    lease_expires_at double precision NOT NULL,
    accepting boolean NOT NULL DEFAULT true
);

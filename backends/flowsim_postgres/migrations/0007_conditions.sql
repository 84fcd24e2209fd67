-- Conditions (wait_for / skip_if / cancel_if, DurableContext.aio_wait_for).
-- "{schema}" is replaced by migrate.py, as in 0001. A task run held by its conditions is
-- QUEUED with in_backoff and ready_at = 'Infinity' (never released by time, never
-- claimed) until they decide; flowsim.store.sql_waits keeps its wait (the same statements
-- as SQLite's, so JSON is text here and flags are integers).

-- COMPLETED by a skip_if condition (or because every parent was skipped), not by running
ALTER TABLE {schema}.task_runs ADD COLUMN skipped boolean NOT NULL DEFAULT false;

-- one open or fired wait: a held task run's (id = the task run's id) or a durable wait's
CREATE TABLE {schema}.condition_waits (
    id text PRIMARY KEY,
    task_run_id text NOT NULL,
    durable integer NOT NULL,
    -- JSON list of flowsim.store.conditions.ConditionSpec
    conditions text NOT NULL,
    registered_at double precision NOT NULL,
    -- JSON object {condition index: its data} of the conditions that hold so far
    satisfied text NOT NULL,
    -- when the next sleep not yet satisfied elapses (NULL: none)
    wake_at double precision,
    open integer NOT NULL DEFAULT 1,
    -- a durable wait's return value once it fired
    result text
);
CREATE INDEX condition_waits_wake ON {schema}.condition_waits (wake_at) WHERE open = 1;

-- which open waits listen for which event key
CREATE TABLE {schema}.condition_events (
    event_key text NOT NULL,
    wait_id text NOT NULL,
    PRIMARY KEY (event_key, wait_id)
);

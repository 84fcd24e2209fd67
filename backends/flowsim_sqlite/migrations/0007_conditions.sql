-- Conditions (wait_for / skip_if / cancel_if, DurableContext.aio_wait_for).
-- A task run held by its conditions is QUEUED with in_backoff = 1 and ready_at = +inf
-- (never released by time) until they decide; flowsim.store.sql_waits keeps its wait.

-- COMPLETED by a skip_if condition (or because every parent was skipped), not by running
ALTER TABLE task_runs ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;

-- one open or fired wait: a held task run's (id = the task run's id) or a durable wait's
CREATE TABLE condition_waits (
    id TEXT PRIMARY KEY,
    task_run_id TEXT NOT NULL,
    durable INTEGER NOT NULL,
    -- JSON list of flowsim.store.conditions.ConditionSpec
    conditions TEXT NOT NULL,
    registered_at REAL NOT NULL,
    -- JSON object {condition index: its data} of the conditions that hold so far
    satisfied TEXT NOT NULL,
    -- when the next sleep not yet satisfied elapses (NULL: none)
    wake_at REAL,
    open INTEGER NOT NULL DEFAULT 1,
    -- a durable wait's return value once it fired
    result TEXT
);
CREATE INDEX condition_waits_wake ON condition_waits (wake_at) WHERE open = 1;

-- which open waits listen for which event key
CREATE TABLE condition_events (
    event_key TEXT NOT NULL,
    wait_id TEXT NOT NULL,
    PRIMARY KEY (event_key, wait_id)
) WITHOUT ROWID;

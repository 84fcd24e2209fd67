-- Durable tasks (flowsim.store.durable_log): each durable task run's event log, and the
-- runs an evicted task run waits on before it may be restored.

-- one row per durable call (sleep, child spawn, memo, wait), at its position in the task
-- run's log; written once (INSERT OR IGNORE), read in position order on every replay
CREATE TABLE durable_steps (
    task_run_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    -- JSON: what a replay needs (a sleep's wake time, a child's run id, a memo's result)
    data TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (task_run_id, position)
) WITHOUT ROWID;

-- an evicted task run parked (in backoff until a far-future ready_at) until every run it
-- awaited is terminal; expire releases it then and deletes its rows
CREATE TABLE durable_parked (
    task_run_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (task_run_id, run_id)
) WITHOUT ROWID;

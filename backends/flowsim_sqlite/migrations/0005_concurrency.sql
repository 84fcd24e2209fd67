-- Concurrency limits (flowsim.concurrency). A unit is a run (a workflow-level limit) or a
-- task run (a task-level one); it has one row per limit it names, in the list's order
-- (position). holding = 1 while it holds a place in the row's group (strategy, group_key),
-- 0 while it waits for one. seq is its arrival order (the global sequence): first come
-- first served within a group, oldest holder first for CANCEL_IN_PROGRESS. A row goes
-- when its unit ends.
-- A task run waiting for its unit's place is QUEUED with in_backoff = 2: neither claimable
-- (the queue index asks in_backoff = 0) nor a retry in backoff (1). Its schedule deadline
-- runs meanwhile, as in Hatchet's concurrency queues.
CREATE TABLE concurrency_slots (
    unit_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    strategy TEXT NOT NULL,
    group_key TEXT NOT NULL,
    max_runs INTEGER NOT NULL,
    limit_strategy TEXT NOT NULL,
    seq INTEGER NOT NULL,
    holding INTEGER NOT NULL,
    PRIMARY KEY (unit_id, position)
) WITHOUT ROWID;
CREATE INDEX concurrency_slots_group ON concurrency_slots (strategy, group_key, holding, seq);
CREATE INDEX concurrency_slots_run ON concurrency_slots (run_id);
CREATE INDEX task_runs_parked ON task_runs (deadline, bucket, deadline_seq)
    WHERE status = 'QUEUED' AND in_backoff = 2;

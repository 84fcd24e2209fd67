-- worker labels and sticky pins (flowsim.placement).
-- a worker's labels ({"key": "value" | int}), matched against its tasks' desired labels
ALTER TABLE {schema}.workers ADD COLUMN labels jsonb NOT NULL DEFAULT '{}'::jsonb;
-- the worker a sticky run is pinned to: the one that took its first task, or its spawner's
-- worker for a child triggered with sticky=True. First writer wins (INSERT ... ON CONFLICT
-- DO NOTHING): a separate table, so pinning never locks the run row completions lock.
CREATE TABLE {schema}.run_pins (
    run_id text PRIMARY KEY,
    worker_id text NOT NULL
);

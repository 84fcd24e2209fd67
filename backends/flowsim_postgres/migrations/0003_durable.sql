-- Durable tasks (flowsim.store.durable_log): each durable task run's event log, the runs
-- an evicted task run waits on before it may be restored, and the EVICTED attempt outcome.

-- one row per durable call (sleep, child spawn, memo, wait), at its position in the task
-- run's log; written once (ON CONFLICT DO NOTHING), read in position order on every replay
CREATE TABLE {schema}.durable_steps (
    task_run_id text NOT NULL,
    position integer NOT NULL,
    kind text NOT NULL,
    key text NOT NULL,
    -- what a replay needs (a sleep's wake time, a child's run id, a memo's result)
    data jsonb NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (task_run_id, position)
);

-- an evicted task run parked (in backoff until a far-future ready_at) until every run it
-- awaited is terminal; expire releases it then and deletes its rows
CREATE TABLE {schema}.durable_parked (
    task_run_id text NOT NULL,
    run_id text NOT NULL,
    PRIMARY KEY (task_run_id, run_id)
);

ALTER TABLE {schema}.attempts DROP CONSTRAINT attempts_outcome_check;
ALTER TABLE {schema}.attempts ADD CONSTRAINT attempts_outcome_check
    CHECK (outcome IN ('RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'LOST', 'EVICTED'));

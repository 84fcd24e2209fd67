-- Concurrency limits (flowsim.concurrency). A unit is a run (a workflow-level limit) or a
-- task run (a task-level one); it has one row per limit it names, in the list's order
-- (position). holding is true while it holds a place in the row's group (strategy,
-- group_key), false while it waits for one. seq is its arrival order (claim_seq): first
-- come first served within a group, oldest holder first for CANCEL_IN_PROGRESS. A row goes
-- when its unit ends. Every decision on these rows is made under one advisory lock per
-- schema (flowsim_postgres.places), so concurrent writers see one order of arrivals.
CREATE TABLE {schema}.concurrency_slots (
    unit_id text NOT NULL,
    position integer NOT NULL,
    run_id text NOT NULL,
    strategy text NOT NULL,
    group_key text NOT NULL,
    max_runs integer NOT NULL,
    limit_strategy text NOT NULL,
    seq bigint NOT NULL,
    holding boolean NOT NULL,
    PRIMARY KEY (unit_id, position)
);
CREATE INDEX concurrency_slots_group
    ON {schema}.concurrency_slots (strategy, group_key, holding, seq);
CREATE INDEX concurrency_slots_run ON {schema}.concurrency_slots (run_id);
-- A task run waiting for its unit's place is parked: its ready time moves here and
-- ready_at becomes 'infinity', so no claim takes it (claims ask ready_at <= now) while
-- its schedule deadline keeps running, as in Hatchet's concurrency queues.
ALTER TABLE {schema}.task_runs ADD COLUMN parked_ready_at double precision;

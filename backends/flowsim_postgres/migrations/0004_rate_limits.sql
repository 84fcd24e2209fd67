-- Rate limits (flowsim.rate_limits): one row per key, and the instant a queued task run
-- that was refused its units may be looked at again.
CREATE TABLE {schema}.rate_limits (
    key text PRIMARY KEY,
    limit_units bigint NOT NULL,
    window_seconds double precision NOT NULL,
    -- units left in the window that began at last_refill
    units_left bigint NOT NULL,
    last_refill double precision NOT NULL
);

-- NULL: claimable. Otherwise the task run is parked (still QUEUED) until then; infinity
-- means until a key is put (or created by a dynamic upsert). Claim and expire clear it once it has passed.
ALTER TABLE {schema}.task_runs ADD COLUMN rate_wait_until double precision;

CREATE INDEX task_runs_rate_wait ON {schema}.task_runs (rate_wait_until)
    WHERE status = 'QUEUED' AND rate_wait_until IS NOT NULL;

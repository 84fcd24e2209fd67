-- Rate limits (flowsim.rate_limits): one row per key, and the instant a queued task run
-- that was refused its units may be looked at again.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    limit_units INTEGER NOT NULL,
    window_seconds REAL NOT NULL,
    -- units left in the window that began at last_refill
    units_left INTEGER NOT NULL,
    last_refill REAL NOT NULL
);

-- NULL: claimable. Otherwise the task run is parked (still QUEUED) until then; infinity
-- means until a key is put (or created by a dynamic upsert). Claim and expire clear it once it has passed.
ALTER TABLE task_runs ADD COLUMN rate_wait_until REAL;

CREATE INDEX task_runs_rate_wait ON task_runs (rate_wait_until)
    WHERE status = 'QUEUED' AND rate_wait_until IS NOT NULL;

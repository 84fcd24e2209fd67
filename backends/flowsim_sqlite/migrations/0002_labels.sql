-- worker labels and sticky pins (flowsim.placement).
-- a worker's labels ({"key": "value" | int}), matched against its tasks' desired labels
ALTER TABLE workers ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
-- the worker a sticky run is pinned to: the one that took its first task, or its
-- spawner's worker for a child triggered with sticky=True (first writer wins)
CREATE TABLE run_pins (
    run_id TEXT PRIMARY KEY,
    worker_id TEXT NOT NULL
);

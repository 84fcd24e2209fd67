-- A task run replayed together with one of its DAG parents waits, keeping what it did
-- before, until its parents complete again; until then the DAG counts it as not created.
ALTER TABLE task_runs ADD COLUMN replay_pending INTEGER NOT NULL DEFAULT 0;

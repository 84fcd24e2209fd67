-- hatchet.runs.replay queues an ended task run again as its next retry with its whole
-- retry budget back: retries count from the retry_count its last replay gave it.
ALTER TABLE {schema}.task_runs ADD COLUMN replay_base integer NOT NULL DEFAULT 0;

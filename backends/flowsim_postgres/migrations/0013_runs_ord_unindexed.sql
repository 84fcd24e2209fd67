-- runs.ord without its unique index.
-- "{schema}" is replaced by migrate.py, as in 0001.

-- ord is an identity column (unique by construction) and is only sorted on within a few
-- rows (a run's family, a completion batch's lock order) or over every run (run_ids), never
-- searched; task_runs.ord lost its index for the same reason in 0008. The index took an
-- entry for every run created and another at every run's end (a non-HOT update).
ALTER TABLE {schema}.runs DROP CONSTRAINT runs_ord_key;

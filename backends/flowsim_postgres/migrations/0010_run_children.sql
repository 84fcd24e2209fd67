-- A run's children, found through an index: cancelling a run walks its family down
-- parent_run_id (a recursive query), which without one read every run the store ever
-- held at each level (47 ms a level in a store of 200,000 runs).
-- "{schema}" is replaced by migrate.py, as in 0001.
CREATE INDEX runs_parent ON {schema}.runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

-- Fewer writes per task run on the hot path (create, claim, complete of a fan-out child).
-- "{schema}" is replaced by migrate.py, as in 0001.

-- The two foreign keys below are checked by a trigger per inserted row (a key-share lock
-- on the referenced row): ~45 % of inserting 10,000 task runs, ~15 % of a claim's insert
-- of their attempts. Every writer inserts a task run only for the run it created or
-- locked in the same transaction, and an attempt only for the task run it just updated;
-- no run or task run is ever deleted. runs.spec_digest keeps its foreign key: the store
-- relies on its violation to notice a schema emptied under it (store.py).
ALTER TABLE {schema}.task_runs DROP CONSTRAINT task_runs_run_id_fkey;
ALTER TABLE {schema}.attempts DROP CONSTRAINT attempts_task_run_id_fkey;

-- task_runs.ord is an identity column (unique by construction) and is only ever sorted
-- on within a run's few rows; its unique index took an insert on every non-HOT update
-- (claim and completion each make one).
ALTER TABLE {schema}.task_runs DROP CONSTRAINT task_runs_ord_key;

-- An attempt's end (finished_at, outcome: neither indexed) can then be a HOT update on
-- the attempt's own page instead of a new index entry.
ALTER TABLE {schema}.attempts SET (fillfactor = 70);

-- A bulk create_runs writes task runs with COPY, which leaves seq to this default: the
-- claim sequence's next value per row, in the order the rows are sent (every INSERT names
-- seq itself, as before).
ALTER TABLE {schema}.task_runs ALTER COLUMN seq SET DEFAULT nextval('{schema}.claim_seq');

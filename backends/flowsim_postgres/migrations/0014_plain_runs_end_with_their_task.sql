-- A run with one task and no concurrency limit (every fan-out child) ends when its task
-- run does. Its completion now writes only the task run's row: finish_xid there marks that
-- this task run's end ended its run, whose own row keeps terminal_status NULL (readers take
-- the status and end time from the task run: flowsim_postgres.rows.ended_status). Writing the
-- run row as well was a second, non-HOT update per child (an entry in each of the run
-- table's indexes) after locking it: about half the server's time completing a child.
ALTER TABLE {schema}.task_runs ADD COLUMN finish_xid xid8;
CREATE INDEX task_runs_finish_xid ON {schema}.task_runs (finish_xid) WHERE finish_xid IS NOT NULL;

-- finished_since: runs in the order they reached a terminal status. finish_seq is set, one
-- higher than any before it, in the transaction that ends the run (writers are serialised
-- by BEGIN IMMEDIATE, so the order of finish_seq is the order of commits).
ALTER TABLE runs ADD COLUMN finish_seq INTEGER;
CREATE UNIQUE INDEX runs_finish_seq ON runs (finish_seq) WHERE finish_seq IS NOT NULL;

-- finished_since: the transaction that gave a run its terminal status. Sequence values
-- are not taken in commit order, transaction ids are not either, but a reader's snapshot
-- says which ids may still be in flight (pg_snapshot_xmin): rows written by older ones are
-- all visible, so a reader that resumes from its last snapshot's xmin misses nothing.
ALTER TABLE {schema}.runs ADD COLUMN finish_xid xid8;
CREATE INDEX runs_finish_xid ON {schema}.runs (finish_xid) WHERE finish_xid IS NOT NULL;

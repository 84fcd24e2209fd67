-- The event whose push started a run (ctx.triggering_event_id / triggering_event_key):
-- both NULL for a run triggered any other way, which is every child and most runs (a NULL
-- costs a bit in the row's null bitmap, nothing else). COLLATE "C" as every text column
-- (0012). "{schema}" is replaced by migrate.py, as in 0001.
ALTER TABLE {schema}.runs
    ADD COLUMN event_id text COLLATE "C",
    ADD COLUMN event_key text COLLATE "C";

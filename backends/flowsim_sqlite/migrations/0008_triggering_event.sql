-- The event whose push started a run (ctx.triggering_event_id / triggering_event_key):
-- both NULL for a run triggered any other way, which is every child and most runs.
ALTER TABLE runs ADD COLUMN event_id TEXT;
ALTER TABLE runs ADD COLUMN event_key TEXT;

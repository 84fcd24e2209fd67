-- The payload of the event filter that started a run (hatchet's DefaultFilter payload, read
-- by ctx.filter_payload), JSON; NULL for a run no filter started. Kept with the run's
-- triggering event (event_id, event_key: 0015) so a worker in another process reads it.
-- Adding a nullable column rewrites nothing. "{schema}" is replaced by migrate.py.
ALTER TABLE {schema}.runs ADD COLUMN event_filter jsonb;

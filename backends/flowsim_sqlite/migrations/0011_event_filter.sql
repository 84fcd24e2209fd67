-- The payload of the event filter that started a run (hatchet's DefaultFilter payload, read
-- by ctx.filter_payload), JSON; NULL for a run no filter started. Kept with the run's
-- triggering event (event_id, event_key: 0008) so a worker in another process reads it.
ALTER TABLE runs ADD COLUMN event_filter TEXT;

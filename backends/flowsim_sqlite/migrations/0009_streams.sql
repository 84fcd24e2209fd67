-- What tasks streamed (ctx.put_stream), numbered per run in the order stored: a subscriber
-- reads a run's chunks after the position it started at. Kept with the runs (nothing
-- deletes runs yet). The primary key is the run's read order; no rowid table needed.
CREATE TABLE stream_chunks (
    run_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    task_run_id TEXT NOT NULL,
    event_index INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, position)
) WITHOUT ROWID;

-- What tasks streamed (ctx.put_stream), numbered per run in the order stored: a subscriber
-- reads a run's chunks after the position it started at. Kept with the runs (nothing
-- deletes runs yet). COLLATE "C" as every text column (0012). "{schema}" is replaced by
-- migrate.py, as in 0001.
CREATE TABLE {schema}.stream_chunks (
    run_id text COLLATE "C" NOT NULL,
    position integer NOT NULL,
    task_run_id text COLLATE "C" NOT NULL,
    event_index integer NOT NULL,
    data text COLLATE "C" NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (run_id, position)
);

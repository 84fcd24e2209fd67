-- Idempotency keys (flowsim.idempotency): the run that claimed each key last and its claim.
-- Whether the key is still held is decided when a run is created (expires_at, and for a
-- STATUS key, until_end, the holder's status), so nothing is deleted when runs end. Two
-- processes creating runs of one key are serialized by an advisory lock on the key
-- (runs.py). COLLATE "C" as every text column (0012); "{schema}" is replaced by migrate.py.
CREATE TABLE {schema}.idempotency_keys (
    key text COLLATE "C" PRIMARY KEY,
    run_id text COLLATE "C" NOT NULL,
    expires_at double precision NOT NULL,
    until_end boolean NOT NULL
);
